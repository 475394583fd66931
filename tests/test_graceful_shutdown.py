"""SIGTERM mid-call against `smarthub serve` in a subprocess, on SQLite and PostgreSQL.

The provider is a loopback fake OpenAI that holds every request until the test lets it go, so the
test knows the calls are in flight (at the provider, or queued for one of its slots) when the signal
lands, without sleeping. Within the grace period the calls finish and are charged; past it they are
cancelled and every hold is released, none left for the sweeper.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import httpx
from sqlalchemy import text
from starlette.requests import Request
from starlette.responses import Response

from smarthub_mcp.credits import MICRO
from smarthub_mcp.db import Database
from tests.conftest import TEST_JWT_SECRET, free_port
from tests.factories import make_api_key, make_user_with_token
from tests.fakes.openai_server import FakeOpenAI

KEY = "sk-held-fake"
CONFIG = """
[providers.held]
type = "openai"
base_url = "{url}/v1"
api_key_env = "HELD_KEY"
max_concurrency = 2

[models.slow]
kind = "chat"
max_output_tokens = 64
routes = [{{ provider = "held", upstream = "gpt-fake" }}]
price = {{ input_per_million = 1000, output_per_million = 1000 }}
"""


class HeldOpenAI(FakeOpenAI):
    """Counts arrivals; answers only once `let_go` is set (or when it stops)."""

    def __init__(self, api_key: str) -> None:
        super().__init__(api_key)
        self.arrived = 0
        self.arrival = asyncio.Event()
        self.let_go = asyncio.Event()

    async def chat(self, request: Request) -> Response:
        self.arrived += 1
        self.arrival.set()
        await asyncio.wait_for(self.let_go.wait(), 120)
        return await super().chat(request)

    async def wait_for(self, count: int) -> None:
        with anyio.fail_after(30):
            while self.arrived < count:
                self.arrival.clear()
                await self.arrival.wait()

    async def __aexit__(self, *exc: object) -> None:
        self.let_go.set()
        await super().__aexit__(*exc)


@contextlib.asynccontextmanager
async def serving(
    tmp_path: Path, database_url: str, fake_url: str, grace: int, drain: float = 0
) -> AsyncIterator[Any]:
    config = tmp_path / "config.toml"
    config.write_text(CONFIG.format(url=fake_url), encoding="utf-8")
    port = free_port()
    env = {"PATH": "/usr/bin:/bin", "SMARTHUB_DATABASE_URL": database_url, "SMARTHUB_JWT_SECRET": TEST_JWT_SECRET,
           "SMARTHUB_AUTH__DEV_MODE": "false", "SMARTHUB_CONFIG": str(config), "HELD_KEY": KEY,
           "SMARTHUB_SERVER__SHUTDOWN_GRACE_SECONDS": str(grace),
           "SMARTHUB_SERVER__SHUTDOWN_DRAIN_SECONDS": str(drain)}
    process = subprocess.Popen(  # noqa: ASYNC220 -- starting it does not block; waits go through to_thread
        [sys.executable, "-m", "smarthub_mcp", "serve", "--port", str(port)], env=env,
                               cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient(timeout=5) as probe:
            with anyio.fail_after(30):
                while True:
                    with contextlib.suppress(httpx.HTTPError):
                        if (await probe.get(f"{url}/readyz")).status_code == 200:
                            break
                    assert process.poll() is None, process.stderr.read() if process.stderr else ""
                    await asyncio.sleep(0.1)
        process.url = url  # type: ignore[attr-defined]
        yield process
    except BaseException as exc:  # a failure shows what the server said
        if process.poll() is None:
            process.kill()
        with contextlib.suppress(Exception):
            exc.add_note("server stderr:\n" + process.communicate(timeout=30)[1][-4000:])
        raise
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(30)


async def stopped_accepting(url: str) -> None:
    """Wait (bounded) until a new connection is refused: the listening socket is closed. A
    connection the kernel queued just before the close is dropped unanswered, closed or reset (the
    listener goes with its backlog): that also means no new work is taken."""
    no_reuse = httpx.Limits(max_keepalive_connections=0)  # a new connection for every probe
    with anyio.fail_after(15):
        async with httpx.AsyncClient(timeout=1, limits=no_reuse) as fresh:
            while True:
                try:
                    await fresh.get(f"{url}/healthz")
                except (httpx.ConnectError, httpx.RemoteProtocolError, httpx.ReadError):
                    return
                await asyncio.sleep(0.05)


async def user_with_key(database_url: str, credits: int) -> tuple[Database, str, str]:
    from smarthub_mcp.compose import build_services
    from smarthub_mcp.config import load_config
    from tests.conftest import base_env

    services = build_services(load_config(env=base_env(database_url)))
    user_id, _ = await make_user_with_token(services)
    await services.ledger.grant(user_id, credits - (await services.ledger.balance(user_id)).balance, kind="grant",
                                idempotency_key="shutdown-test")
    key = await make_api_key(services, user_id)
    await services.router.aclose()
    await services.rate_limiter.aclose()
    return services.db, user_id, key


async def books(db: Database, user_id: str) -> tuple[dict[str, int], list[tuple[str, str | None]], int]:
    async with db.read() as conn:
        holds = dict((await conn.execute(text(
            "SELECT status, count(*) FROM holds WHERE account_id = :u GROUP BY status"), {"u": user_id})).all())
        usage = [(r[0], r[1]) for r in await conn.execute(text(
            "SELECT status, error_code FROM usage_events WHERE user_id = :u AND hold_id IS NOT NULL"), {"u": user_id})]
    return holds, usage, (await _balance(db, user_id))


async def holding(db: Database, user_id: str, count: int) -> None:
    """Wait (bounded) until `count` calls hold credits: the server has accepted them."""
    with anyio.fail_after(30):
        while (await books(db, user_id))[0].get("open", 0) < count:  # noqa: ASYNC110 -- another process's rows
            await asyncio.sleep(0.05)


async def _balance(db: Database, user_id: str) -> int:
    from smarthub_mcp.billing.ledger import Ledger

    return (await Ledger(db).balance(user_id)).balance


def call(http: httpx.AsyncClient, url: str, key: str, i: int) -> Any:
    return http.post(f"{url}/api/v1/tools/chat", headers={"Authorization": f"Bearer {key}"},
                     json={"model": "slow", "prompt": f"call {i}", "max_tokens": 16})


async def test_calls_in_flight_finish_within_the_grace_period(db, database_url, tmp_path):
    checker, user_id, key = await user_with_key(database_url, 50 * MICRO)
    try:
        async with HeldOpenAI(KEY) as fake, serving(tmp_path, database_url, fake.url, grace=60) as server:
            async with httpx.AsyncClient(timeout=60) as http:
                calls = [asyncio.create_task(call(http, server.url, key, i)) for i in range(3)]
                await fake.wait_for(2)  # two at the provider, the third queued for a slot
                await holding(checker, user_id, 3)  # all three accepted (not still on their way in)
                server.send_signal(signal.SIGTERM)
                await stopped_accepting(server.url)
                fake.let_go.set()
                answers = await asyncio.gather(*calls)
            assert [a.status_code for a in answers] == [200, 200, 200], [a.text for a in answers]
            charged = sum(int(a.json()["credits_charged"].replace(".", "")) for a in answers)
            _, stderr = await asyncio.to_thread(server.communicate, timeout=30)
        assert server.returncode == 0, stderr
        assert "Traceback" not in stderr and "Application shutdown complete" in stderr
        holds, usage, balance = await books(checker, user_id)
        assert holds == {"captured": 3}
        assert usage == [("ok", None)] * 3
        assert balance == 50 * MICRO - charged and charged > 0
    finally:
        await checker.close()


async def test_past_the_grace_period_calls_are_cancelled_and_every_hold_released(db, database_url, tmp_path):
    checker, user_id, key = await user_with_key(database_url, 50 * MICRO)
    try:
        async with HeldOpenAI(KEY) as fake, serving(tmp_path, database_url, fake.url, grace=1) as server:
            async with httpx.AsyncClient(timeout=60) as http:
                calls = [asyncio.create_task(call(http, server.url, key, i)) for i in range(3)]
                await fake.wait_for(2)  # the third never reaches the provider (max_concurrency 2)
                await holding(checker, user_id, 3)
                server.send_signal(signal.SIGTERM)
                _, stderr = await asyncio.to_thread(server.communicate, timeout=60)
                answers = await asyncio.gather(*calls)
            assert fake.arrived == 2
        assert [a.status_code for a in answers] == [503] * 3, answers  # not a bare 500 from uvicorn
        assert {a.json()["error"]["code"] for a in answers} == {"shutting_down"}
        assert {a.headers["retry-after"] for a in answers} == {"1"}
        assert "Exception in ASGI application" not in stderr
        assert server.returncode == 0, stderr
        assert "Traceback" not in stderr and "Application shutdown complete" in stderr
        holds, usage, balance = await books(checker, user_id)
        assert holds == {"released": 3}, "released at shutdown, none left open for the sweeper"
        assert sorted(usage) == [("cancelled", "cancelled")] * 3
        assert balance == 50 * MICRO
        from smarthub_mcp.billing.ledger import Ledger

        assert await Ledger(checker).check() == []
    finally:
        await checker.close()


async def test_a_drain_fails_readiness_but_keeps_serving_before_it_stops(db, database_url, tmp_path):
    """shutdown_drain_seconds: on SIGTERM /readyz answers 503 `draining` (a balancer takes the
    replica out) while calls are still accepted and served; then the server stops as usual."""
    checker, user_id, key = await user_with_key(database_url, 50 * MICRO)
    try:
        async with HeldOpenAI(KEY) as fake, serving(tmp_path, database_url, fake.url, grace=30, drain=5) as server:
            fake.let_go.set()
            async with httpx.AsyncClient(timeout=30) as http:
                assert (await http.get(f"{server.url}/readyz")).status_code == 200
                server.send_signal(signal.SIGTERM)
                with anyio.fail_after(10):
                    while (ready := await http.get(f"{server.url}/readyz")).status_code == 200:  # noqa: ASYNC110
                        await asyncio.sleep(0.02)
                assert ready.status_code == 503 and ready.json()["status"] == "draining"
                during = await call(http, server.url, key, 1)  # still accepted while draining
                assert during.status_code == 200, during.text
                await stopped_accepting(server.url)
            _, stderr = await asyncio.to_thread(server.communicate, timeout=30)
        assert server.returncode == 0, stderr
        assert "SIGTERM: draining for 5.0 s" in stderr and "Traceback" not in stderr
        holds, usage, _ = await books(checker, user_id)
        assert holds == {"captured": 1} and usage == [("ok", None)]
    finally:
        await checker.close()
