"""Two app processes on one PostgreSQL with their job workers racing over 50 image, then 50 video, jobs
on fal's queue API
(the loopback fake, which counts every submit); one is killed (SIGKILL) while it holds leases: the
other takes its jobs over after the leases run out, without sending any again. Every job is
submitted upstream once and settled once; the ledger is exact."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text

from smarthub_mcp.compose import build_services
from tests.conftest import base_env, free_port
from tests.factories import bearer, make_user_with_token
from tests.fakes.fal_queue_server import FakeFal, FalJob

JOBS = 50
PRICE = 5_000  # 0.005 credits an image; a 5 s video at 0.001 a second

CONFIG = """
[database]
pool_size = 3

[providers.fal]
type = "fal"
api_key_env = "FAL_KEY"
base_url = "{fal}"
timeout_seconds = 5

[models.flux]
kind = "image"
routes = [{{ provider = "fal", upstream = "fal-ai/flux/dev" }}]
price = {{ per_image = {{ "64x64" = 0.005 }} }}

[models.kling]
kind = "video"
routes = [{{ provider = "fal", upstream = "fal-ai/kling-video/v2.1/standard/text-to-video" }}]
price = {{ per_second = {{ std = 0.001 }} }}
durations = [5]

[jobs]
lease_seconds = 5
poll_interval_seconds = 0.5
worker_interval_seconds = 0.2
worker_concurrency = 8
http_wait_seconds = 0
"""


async def start(env: dict[str, str], config: Path, port: int) -> asyncio.subprocess.Process:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "smarthub_mcp", "serve", "--port", str(port), "--config", str(config),
        env={**os.environ, **env}, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
    )
    async with httpx.AsyncClient() as http:
        for _ in range(300):
            try:
                if (await http.get(f"http://127.0.0.1:{port}/readyz")).status_code == 200:
                    return proc
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.1)
    proc.kill()
    raise AssertionError("the server did not start")


@pytest.mark.postgres
@pytest.mark.slow
@pytest.mark.parametrize("kind", ["image", "video"])
async def test_two_processes_race_over_fifty_jobs_and_one_is_killed(backend, kind, database_url, db, tmp_path):
    if backend != "postgresql":
        pytest.skip("two processes on one database: the PostgreSQL case")
    async with FakeFal() as fal:
        fal.script(*[FalJob(in_queue=2, in_progress=6, video=kind == "video") for _ in range(JOBS)])
        await run_race(fal, database_url, tmp_path, kind)
        assert len(fal.submits) == JOBS  # each job sent upstream once, A's included


async def run_race(fal: FakeFal, database_url: str, tmp_path: Path, kind: str) -> None:
    config = tmp_path / "config.toml"
    config.write_text(CONFIG.format(fal=fal.url) + f'\n[storage]\ndirectory = "{tmp_path / "media"}"\n',
                      encoding="utf-8")
    env = base_env(database_url, FAL_KEY="test-key")
    from smarthub_mcp.config import load_config

    services = build_services(load_config(config, env=env))
    user_id, token = await make_user_with_token(services)
    before = (await services.ledger.balance(user_id)).balance
    port_a, port_b = free_port(), free_port()
    a = await start(env, config, port_a)
    b = await start(env, config, port_b)
    try:
        await asyncio.wait_for(race(services, user_id, token, a, port_a, port_b, kind), 120)
    finally:
        for proc in (a, b):
            if proc.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                await proc.wait()
    await check(services, user_id, before, kind)


async def race(services, user_id: str, token: str, a, port_a: int, port_b: int, kind: str) -> list[str]:
    if True:
        async with httpx.AsyncClient(headers=bearer(token), timeout=30) as http:

            async def make(i: int) -> str:
                port = (port_a, port_b)[i % 2]
                body = {"prompt": f"job {i}", "model": "flux", "size": "64x64"} if kind == "image" else \
                    {"prompt": f"job {i}", "model": "kling"}
                answer = await http.post(f"http://127.0.0.1:{port}/api/v1/{kind}s", json=body)
                assert answer.status_code == 200, answer.text
                return str(answer.json()["job_id"])

            job_ids = await asyncio.gather(*(make(i) for i in range(JOBS)))
        # Kill A while its workers hold leases on jobs still running.
        await asyncio.sleep(1.0)
        async with services.db.read() as conn:
            running_at_kill = (await conn.execute(text(
                "SELECT count(*) FROM jobs WHERE owner_id = :u AND settled_at IS NULL"), {"u": user_id})).scalar()
        a.send_signal(signal.SIGKILL)
        await a.wait()
        for _ in range(600):
            async with services.db.read() as conn:
                open_jobs = (await conn.execute(text(
                    "SELECT count(*) FROM jobs WHERE owner_id = :u AND settled_at IS NULL"), {"u": user_id})).scalar()
            if open_jobs == 0:
                break
            await asyncio.sleep(0.1)
        assert running_at_kill > 0, "A was killed with jobs in flight"
        assert open_jobs == 0, "B finished every job, A's included"
    return job_ids


async def check(services, user_id: str, before: int, kind: str) -> None:
    async with services.db.read() as conn:
        rows = list(await conn.execute(text(
            "SELECT id, kind, status, submits, delivered, charged FROM jobs WHERE owner_id = :u"), {"u": user_id}))
        usage = (await conn.execute(text(
            "SELECT count(*), count(DISTINCT hold_id) FROM usage_events WHERE user_id = :u"
            " AND tool = :tool"), {"u": user_id, "tool": f"generate_{kind}"})).one()
    assert len(rows) == JOBS
    assert {(r.status, r.submits, r.delivered, r.charged) for r in rows} == {("succeeded", 1, 1, PRICE)}
    assert {r.kind for r in rows} == {kind}
    assert tuple(usage) == (JOBS, JOBS)  # one usage row per job: settled once
    balance = await services.ledger.balance(user_id)
    assert (balance.balance, balance.held) == (before - JOBS * PRICE, 0)
    assert await services.ledger.check() == []
    await services.db.close()
