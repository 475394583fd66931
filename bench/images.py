"""Image jobs benchmark: what a `demo-image` call costs above the demo provider's own time, and
how many jobs workers settle per second.

    python bench/images.py [--pg-url postgresql://postgres@127.0.0.1:5432/postgres] [--calls 100] [--jobs 400]

1. Added cost: `generate_image` through the registry (authorize, hold + job row in one transaction,
   submit, copy into storage with a preview, settle in one transaction) against `submit` on the
   demo provider alone, sequential, at 512x512. The added time includes writing the PNG and drawing
   its JPEG preview (Pillow), which every delivered image costs, so that step is timed on its own too.
2. Settled per second: `--jobs` jobs created queued (held, written, no lease), then one engine's
   workers (concurrency 16) step them all: submit, store, settle. Then the ledger drift check.
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

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from sqlalchemy import text

from smarthub_mcp.compose import build_services
from smarthub_mcp.config import load_config
from smarthub_mcp.credits import MICRO
from smarthub_mcp.db import Database
from smarthub_mcp.identity.principal import Principal
from smarthub_mcp.ids import new_id, now_ms
from smarthub_mcp.jobs import store
from smarthub_mcp.jobs.images import ImageAsk
from smarthub_mcp.jobs.worker import run_round
from smarthub_mcp.media.thumbs import preview
from smarthub_mcp.migrations import upgrade
from smarthub_mcp.providers.demo_image import DemoImageProvider
from smarthub_mcp.providers.media import ImageRequest
from smarthub_mcp.tools.catalog import all_tools
from smarthub_mcp.tools.registry import invoke


def quantiles(xs: list[float]) -> tuple[float, float]:
    q = statistics.quantiles(xs, n=100)
    return q[49] * 1000, q[98] * 1000


async def customer(services) -> Principal:  # type: ignore[no-untyped-def]
    user = new_id("usr")
    async with services.db.write() as conn:
        await conn.execute(text(
            "INSERT INTO users (id, email, display_name, role, status, email_verified, created_at, updated_at)"
            " VALUES (:id, :e, '', 'user', 'active', TRUE, :t, :t)"), {"id": user, "e": f"{user}@bench.local",
                                                                         "t": now_ms()})
        for hook in services.user_created_hooks:
            await hook(conn, user)
    await services.ledger.grant(user, 10**6 * MICRO, kind="grant", idempotency_key=f"bench:{user}")
    return Principal(user, f"{user}@bench.local", "user", frozenset({"tools:image"}), "jwt", email_verified=True)


async def bench(name: str, url: str, calls: int, jobs: int, media: Path) -> list[tuple]:
    if url.startswith("postgresql"):
        admin = Database(url, pool_size=1)
        schema = f"bench_{secrets.token_hex(3)}"
        async with admin.engine.connect() as conn:
            conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn.execute(text(f'CREATE DATABASE "{schema}"'))
        await admin.close()
        url = url.rsplit("/", 1)[0] + f"/{schema}"
    config = media / f"{name}.toml"
    config.write_text(f'[storage]\ndirectory = "{media / name}"\n[jobs]\nworkers = false\n'
                      f'worker_concurrency = 16\n[limits.roles.user]\nrequests_per_minute = 0\n'
                      f'tokens_per_minute = 0\n', encoding="utf-8")
    services = build_services(load_config(config, env={"SMARTHUB_DATABASE_URL": url,
                                                       "SMARTHUB_JWT_SECRET": "b" * 48}))
    await upgrade(services.db)
    who = await customer(services)
    spec = all_tools()["generate_image"]
    demo = DemoImageProvider()
    request = ImageRequest(prompt="bench", size="512x512", upstream="demo-image-1")
    rows = []
    own, full, thumb = [], [], []
    for i in range(calls + 10):
        t0 = time.perf_counter()
        out = await demo.submit(request)
        t1 = time.perf_counter()
        await invoke(spec, services, who, {"prompt": f"bench {i}", "model": "demo-image", "size": "512x512",
                                           "count": 1, "seed": None, "negative_prompt": None, "aspect_ratio": None},
                     request_id=f"b{i}")
        t2 = time.perf_counter()
        png = out.outputs[0].data or b""
        await asyncio.to_thread(preview, png, "image/png")
        t3 = time.perf_counter()
        if i >= 10:  # warm-up left out
            own.append(t1 - t0)
            full.append(t2 - t1)
            thumb.append(t3 - t2)
    p_own, p_full, p_thumb = quantiles(own), quantiles(full), quantiles(thumb)
    rows.append((name, "demo provider alone", *p_own))
    rows.append((name, "generate_image, whole call", *p_full))
    rows.append((name, "  added over the provider", p_full[0] - p_own[0], p_full[1] - p_own[1]))
    rows.append((name, "  of which the preview (Pillow)", *p_thumb))

    engine = services.jobs
    for i in range(jobs):
        job = await engine.create(who, tool="generate_image", model="demo-image",
                                        ask=ImageAsk(f"job {i}", "512x512", 1), request_id=f"j{i}")
        await store.move(services.db, job.id, engine.owner, store.OPEN, lease_owner=None, lease_until=None)
    running: set[asyncio.Task[object]] = set()
    start = time.perf_counter()
    while True:
        await run_round(engine, running)
        if running:
            await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
        elif not await store.due(services.db, now_ms(), 1):
            break
    elapsed = time.perf_counter() - start
    drift = await services.ledger.check()
    rows.append((name, f"jobs settled per second ({jobs} jobs, 16 at once)", jobs / elapsed, float(len(drift))))
    await engine.aclose()
    await services.db.close()
    return rows


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pg-url", default=None)
    parser.add_argument("--calls", type=int, default=100)
    parser.add_argument("--jobs", type=int, default=400)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        rows = await bench("sqlite", f"sqlite+aiosqlite:///{tmp}/bench.db", args.calls, args.jobs, Path(tmp))
        if args.pg_url:
            rows += await bench("postgresql", args.pg_url, args.calls, args.jobs, Path(tmp))
    print(f"{'db':<11} {'what':<48} {'p50 ms / per s':>15} {'p99 ms / drift':>15}")
    for db, what, a, b in rows:
        print(f"{db:<11} {what:<48} {a:>15.2f} {b:>15.2f}")


if __name__ == "__main__":
    asyncio.run(main())
