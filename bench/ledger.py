"""Ledger benchmark: reserve+capture pairs per second, p50/p99 latency, then a drift check.

    python bench/ledger.py [--pg-url postgresql://postgres@127.0.0.1:5432/postgres] [--pairs 3000] [--no-sqlite]

Runs at concurrency 1, 8 and 32, over 32 accounts and over one hot account, on SQLite (a
temporary file) and, with --pg-url, on PostgreSQL (a temporary schema, dropped afterwards).
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from sqlalchemy import text

from smarthub_mcp.billing.ledger import Ledger
from smarthub_mcp.db import Database
from smarthub_mcp.ids import new_id, now_ms
from smarthub_mcp.migrations import upgrade

PRICE = 1_000


async def make_accounts(ledger: Ledger, n: int) -> list[str]:
    users = []
    async with ledger.db.write() as conn:
        for _ in range(n):
            user = new_id("usr")
            await conn.execute(
                text("INSERT INTO users (id, email, display_name, role, status, email_verified, created_at, updated_at)"
                     " VALUES (:id, :e, '', 'user', 'active', TRUE, :t, :t)"),
                {"id": user, "e": f"{user}@bench.local", "t": now_ms()},
            )
            await ledger.open_account(user, conn=conn)
            await ledger.grant(user, 10**12, kind="grant", idempotency_key=f"bench:{user}", conn=conn)
            users.append(user)
    return users


async def run(ledger: Ledger, accounts: list[str], concurrency: int, pairs: int) -> tuple[float, list[float]]:
    latencies: list[float] = []
    counter = iter(range(pairs))
    tag = secrets.token_hex(3)

    async def worker() -> None:
        for i in counter:
            user = accounts[i % len(accounts)]
            t0 = time.perf_counter()
            hold = await ledger.reserve(user, 2 * PRICE, ttl_seconds=60, idempotency_key=f"b:{tag}:{i}")
            await ledger.capture(hold.id, PRICE)
            latencies.append(time.perf_counter() - t0)

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return time.perf_counter() - start, latencies


async def bench(name: str, url: str, pairs: int) -> list[tuple]:
    db = Database(url, pool_size=32)
    await upgrade(db)
    ledger = Ledger(db)
    spread, hot = await make_accounts(ledger, 32), await make_accounts(ledger, 1)
    rows = []
    for accounts, label in ((spread, "32 accounts"), (hot, "1 hot account")):
        for concurrency in (1, 8, 32):
            await run(ledger, accounts, concurrency, min(200, pairs))  # warm the pool
            elapsed, lat = await run(ledger, accounts, concurrency, pairs)
            q = statistics.quantiles(lat, n=100)
            rows.append((name, label, concurrency, pairs / elapsed, q[49] * 1000, q[98] * 1000))
    drift = await ledger.check()
    await db.close()
    return [(*r, len(drift)) for r in rows]


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pg-url", default=None, help="PostgreSQL URL (a temporary schema is used)")
    parser.add_argument("--pairs", type=int, default=3000)
    parser.add_argument("--no-sqlite", action="store_true", help="skip SQLite (with --pg-url: PostgreSQL only)")
    args = parser.parse_args()
    rows = []
    if not args.no_sqlite:
        with tempfile.TemporaryDirectory() as tmp:
            rows += await bench("sqlite", f"sqlite+aiosqlite:///{tmp}/bench.db", args.pairs)
    if args.pg_url:
        schema = f"bench_{secrets.token_hex(4)}"
        admin = Database(args.pg_url, pool_size=1)
        async with admin.engine.begin() as conn:
            await conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        try:
            sep = "&" if "?" in args.pg_url else "?"
            rows += await bench("postgresql", f"{args.pg_url}{sep}search_path={schema}", args.pairs)
        finally:
            async with admin.engine.begin() as conn:
                await conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
            await admin.close()
    print(f"{'database':<11} {'accounts':<14} {'conc':>4} {'pairs/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'drift':>6}")
    for name, label, conc, rate, p50, p99, drift in rows:
        print(f"{name:<11} {label:<14} {conc:>4} {rate:>9.0f} {p50:>8.2f} {p99:>8.2f} {drift:>6}")


if __name__ == "__main__":
    asyncio.run(main())
