"""Dashboard benchmark: each page's server time (p50, p95) for a user with 10,000 usage rows.

    python bench/dashboard.py [--pg-url postgresql://postgres@127.0.0.1:5432/postgres] [--rows 10000] [--n 40]

Builds the demo data (a user with `--rows` metered calls over the last 60 days across five models,
a few keys and grants, a generated image; an admin), signs both in with a browser session, then
requests every page in process (the app through httpx's ASGI transport: the server's own time,
no network), `--n` times each after a warm-up, on SQLite (a temporary file) and, with --pg-url, on
PostgreSQL (a temporary schema, dropped afterwards). Prints a table; asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import random
import secrets
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

import httpx
from sqlalchemy import text

from smarthub_mcp.app import build_app
from smarthub_mcp.compose import build_services
from smarthub_mcp.config import load_config
from smarthub_mcp.credits import MICRO
from smarthub_mcp.db import Database
from smarthub_mcp.identity import apikeys, websessions
from smarthub_mcp.identity.users import create_user
from smarthub_mcp.ids import new_id, now_ms
from smarthub_mcp.migrations import upgrade
from smarthub_mcp.services import Services

USER_PAGES = ["/dashboard", "/dashboard/keys", "/dashboard/credits", "/dashboard/templates",
              "/dashboard/templates/tpl_starter_summarize", "/dashboard/media", "/dashboard/jobs", "/dashboard/apps"]
ADMIN_PAGES = ["/dashboard/admin", "/dashboard/admin/users", "/dashboard/admin/audit", "/dashboard/admin/report",
               "/dashboard/admin/promo", "/dashboard/admin/payments", "/dashboard/admin/jobs",
               "/dashboard/admin/providers", "/dashboard/admin/metrics", "/dashboard/admin/moderation"]
MODELS = ["demo-chat", "gpt-4o-mini", "claude-haiku", "demo-image", "demo-video"]
DAY_MS = 86_400_000


async def usage_rows(services: Services, user_id: str, rows: int) -> None:
    rng = random.Random(7)
    now = now_ms()
    batch = []
    for i in range(rows):
        model = rng.choice(MODELS)
        batch.append({
            "id": new_id("use"), "u": user_id, "tool": "chat" if "chat" in model or "-" in model[:6] else "generate",
            "model": model, "status": "ok" if rng.random() > 0.03 else "error", "tin": rng.randint(10, 4000),
            "tout": rng.randint(10, 2000), "cost": rng.randint(100, 50_000), "at": now - rng.randint(0, 60 * DAY_MS),
        })
        if len(batch) == 1000 or i == rows - 1:
            async with services.db.write() as conn:
                await conn.execute(text(
                    "INSERT INTO usage_events (id, user_id, tool, model, provider, status, input_tokens, output_tokens,"
                    " cost, created_at) VALUES (:id, :u, :tool, :model, 'demo', :status, :tin, :tout, :cost, :at)"),
                    batch)
            batch = []


async def demo_data(services: Services, client: httpx.AsyncClient, rows: int) -> tuple[str, str]:
    """The user's and the admin's session cookies."""
    user = await create_user(services, "bench-user@example.com", None, email_verified=True)
    admin = await create_user(services, "bench-admin@example.com", None, role="admin", email_verified=True)
    await usage_rows(services, user.id, rows)
    for i in range(5):
        await apikeys.create_key(services, user.id, name=f"key {i}")
        await services.ledger.grant(user.id, 50 * MICRO, kind="purchase", idempotency_key=f"bench:{i}")
    token = services.identity.codec.issue(user_id=user.id, role="user").token
    made = await client.post("/api/v1/images", json={"prompt": "a bench", "model": "demo-image"},
                             headers={"Authorization": f"Bearer {token}"})
    assert made.status_code == 200, made.text
    user_cookie, _ = await websessions.start_session(services, user.id)
    admin_cookie, _ = await websessions.start_session(services, admin.id)
    return user_cookie, admin_cookie


@contextlib.asynccontextmanager
async def running(database_url: str, media: Path) -> AsyncIterator[tuple[Services, httpx.AsyncClient]]:
    config = load_config(None, env={"SMARTHUB_DATABASE_URL": database_url, "SMARTHUB_JWT_SECRET": "b" * 40,
                                    "SMARTHUB_AUTH__DEV_MODE": "false", "SMARTHUB_STORAGE__DIRECTORY": str(media),
                                    "SMARTHUB_DATABASE__POOL_SIZE": "4", "SMARTHUB_LOGGING__LEVEL": "WARNING"})
    services = build_services(config)
    await upgrade(services.db)
    for noisy in ("httpx", "mcp"):  # a request log line per measured request would be most of the output
        logging.getLogger(noisy).setLevel(logging.WARNING)
    app = build_app(services=services)
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1") as client:
            yield services, client


async def measure(client: httpx.AsyncClient, cookie: str, path: str, n: int) -> tuple[float, float, int]:
    headers = {"Cookie": f"{websessions.COOKIE_NAME}={cookie}"}
    for _ in range(3):
        await client.get(path, headers=headers)
    times = []
    status = 0
    for _ in range(n):
        start = time.perf_counter()
        response = await client.get(path, headers=headers)
        times.append((time.perf_counter() - start) * 1000)
        status = response.status_code
    times.sort()
    return statistics.median(times), times[int(len(times) * 0.95) - 1], status


async def bench(name: str, database_url: str, rows: int, n: int) -> list[tuple[str, str, float, float, int]]:
    with tempfile.TemporaryDirectory() as media:
        async with running(database_url, Path(media)) as (services, client):
            user, admin = await demo_data(services, client, rows)
            out = []
            for cookie, pages in ((user, USER_PAGES), (admin, ADMIN_PAGES)):
                for path in pages:
                    p50, p95, status = await measure(client, cookie, path, n)
                    out.append((name, path, p50, p95, status))
            return out


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pg-url")
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--n", type=int, default=40)
    parser.add_argument("--no-sqlite", action="store_true")
    args = parser.parse_args()
    results = []
    if not args.no_sqlite:
        with tempfile.TemporaryDirectory() as tmp:
            results += await bench("sqlite", f"sqlite+aiosqlite:///{tmp}/bench.db", args.rows, args.n)
    if args.pg_url:
        admin = Database(args.pg_url, pool_size=1)
        schema = f"bench_{secrets.token_hex(4)}"
        async with admin.engine.begin() as conn:
            await conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        try:
            sep = "&" if "?" in args.pg_url else "?"
            results += await bench("postgresql", f"{args.pg_url}{sep}search_path={schema}", args.rows, args.n)
        finally:
            async with admin.engine.begin() as conn:
                await conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
            await admin.close()
    print(f"{args.rows} usage rows for the user; {args.n} requests per page, in process")
    print(f"{'database':<11} {'page':<44} {'p50 ms':>8} {'p95 ms':>8} {'status':>6}")
    for name, path, p50, p95, status in results:
        print(f"{name:<11} {path:<44} {p50:>8.1f} {p95:>8.1f} {status:>6}")


if __name__ == "__main__":
    asyncio.run(main())
