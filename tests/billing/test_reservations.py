"""Reservations that outlive their request: settled later, by another process, exactly once.

Worked examples: a user with 10 credits reserves 4 for an image job; a worker process settles it
at 2.5 -> 7.5 remain, one usage row; a second settle or a release afterwards changes nothing.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys

import pytest
from sqlalchemy import text

from smarthub_mcp.billing.meter import Meter
from smarthub_mcp.billing.reservations import Reservation, Usage
from smarthub_mcp.compose import build_services
from smarthub_mcp.config import load_config
from smarthub_mcp.credits import MICRO
from smarthub_mcp.errors import ConfigError, ProviderError
from smarthub_mcp.ids import now_ms
from tests.billing.test_meter import customer
from tests.conftest import base_env
from tests.fakes.tcp_proxy import TcpProxy

C = MICRO

SETTLE_ELSEWHERE = """
import asyncio, json, sys
from smarthub_mcp.compose import build_services
from smarthub_mcp.config import load_config
from smarthub_mcp.billing.reservations import Usage

async def main():
    services = build_services(load_config(env=json.loads(sys.argv[1])))
    try:
        s = await services.meter.settle(sys.argv[2], Usage(cost=int(sys.argv[3]), provider="fal", images=1))
        print(json.dumps([s.outcome, s.charged, s.balance, s.first]))
    finally:
        await services.db.close()

asyncio.run(main())
"""


async def settle_in_another_process(database_url: str, hold_id: str, cost: int) -> list:
    env = {**base_env(database_url), "PATH": os.environ.get("PATH", "/usr/bin:/bin")}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", SETTLE_ELSEWHERE, json.dumps(env), hold_id, str(cost),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, err.decode()
    return json.loads(out)


async def usage_for(services, hold_id: str) -> list[tuple]:
    async with services.db.read() as conn:
        return [tuple(r) for r in await conn.execute(text(
            "SELECT tool, model, status, error_code, cost, estimate, images FROM usage_events WHERE hold_id = :h"
        ), {"h": hold_id})]


async def image_job(services, credits: int = 10, *, ttl_seconds: float | None = None) -> tuple[str, Reservation]:
    user = await customer(services, credits)
    res = await services.meter.reserve(user, tool="generate_image", permission="tools:chat", model="flux",
                                       estimate=4 * C, request_id="req-1", ttl_seconds=ttl_seconds)
    return user.user_id, res


async def test_another_process_settles_a_reservation_after_the_request_ended(services, database_url):
    user_id, res = await image_job(services)
    start = (await services.ledger.balance(user_id)).balance
    assert (await services.ledger.balance(user_id)).held == 4 * C
    outcome, charged, balance, first = await settle_in_another_process(database_url, res.hold_id, 2_500_000)
    assert (outcome, charged, balance, first) == ("captured", 2_500_000, start - 2_500_000, True)
    assert await usage_for(services, res.hold_id) == [("generate_image", "flux", "ok", None, 2_500_000, 4 * C, 1)]
    # Settling again, from here or there, answers the first outcome and changes nothing.
    again = await services.meter.settle(res.hold_id, Usage(cost=4 * C))
    assert (again.outcome, again.charged, again.first) == ("captured", 2_500_000, False)
    assert await settle_in_another_process(database_url, res.hold_id, 1) == ["captured", 2_500_000,
                                                                              start - 2_500_000, False]
    released = await services.meter.release(res.hold_id, error_code="too_late")
    assert (released.outcome, released.charged, released.first) == ("captured", 2_500_000, False)
    balance = await services.ledger.balance(user_id)
    assert (balance.balance, balance.held) == (start - 2_500_000, 0)
    assert len(await usage_for(services, res.hold_id)) == 1
    assert await services.ledger.check() == []


async def test_a_release_then_a_settle_keeps_the_release(services):
    user_id, res = await image_job(services)
    start = (await services.ledger.balance(user_id)).balance
    first = await services.meter.release(res, status="error", error_code="provider_error")
    assert (first.outcome, first.first) == ("released", True)
    later = await services.meter.settle(res, Usage(cost=3 * C))
    assert (later.outcome, later.charged, later.first) == ("released", 0, False)
    assert (await services.ledger.balance(user_id)).balance == start
    assert await usage_for(services, res.hold_id) == [("generate_image", "flux", "error", "provider_error", 0,
                                                       4 * C, 0)]


async def test_settles_releases_and_sweeps_racing_end_it_once(services):
    user_id, res = await image_job(services)
    start = (await services.ledger.balance(user_id)).balance
    far_future = now_ms() + 10**9
    racers = (
        [services.meter.settle(res.hold_id, Usage(cost=3 * C)) for _ in range(20)]
        + [services.meter.release(res.hold_id, error_code="cancelled") for _ in range(15)]
        + [services.meter.sweep(far_future) for _ in range(15)]
    )
    results = await asyncio.gather(*racers)
    settlements = [r for r in results if not isinstance(r, int)]
    firsts = [s for s in settlements if s.first] + [n for n in results if isinstance(n, int) and n]
    assert len(firsts) == 1, results
    [row] = await usage_for(services, res.hold_id)
    hold = await services.ledger.hold(res.hold_id)
    balance = await services.ledger.balance(user_id)
    charged = 3 * C if hold.status == "captured" else 0
    assert {s.outcome for s in settlements} == {hold.status}
    assert (balance.balance, balance.held) == (start - charged, 0)
    if hold.status == "expired":
        # A settle that came after the sweep delivers its result uncharged and says so on the
        # row (status ok, hold_expired); one that lost to the sweep before leaves the sweep's.
        assert (row[2], row[3], row[4]) in {("expired", "hold_expired", 0), ("ok", "hold_expired", 0)}
    else:
        assert row[2] == {"captured": "ok", "released": "error"}[hold.status]
    assert await services.ledger.check() == []


async def test_the_sweeper_honours_each_reservations_own_expiry(services, caplog):
    _, chat = await image_job(services)  # the default TTL (900 s)
    _, job = await image_job(services, ttl_seconds=3600)
    with caplog.at_level(logging.WARNING, logger="smarthub.meter"):
        assert await services.meter.sweep(now_ms() + 1000 * 1000) == 1
    assert (await services.ledger.hold(chat.hold_id)).status == "expired"
    assert (await services.ledger.hold(job.hold_id)).status == "open"
    assert await usage_for(services, chat.hold_id) == [("generate_image", "flux", "expired", "hold_expired", 0,
                                                        4 * C, 0)]
    assert [r for r in caplog.records if chat.hold_id in r.getMessage() and "expired" in r.getMessage()]
    assert await services.meter.sweep(now_ms() + 3700 * 1000) == 1
    assert (await services.ledger.hold(job.hold_id)).status == "expired"
    late = await services.meter.settle(job, Usage(cost=C))  # the worker comes back after its expiry
    assert (late.outcome, late.charged) == ("expired", 0)
    assert len(await usage_for(services, job.hold_id)) == 1
    assert await services.ledger.check() == []


async def test_a_running_call_keeps_its_hold_alive(services):
    """A TTL far shorter than the call: the sweeper runs mid-call and still finds the hold alive."""
    meter = Meter(services.db, services.ledger, hold_ttl_seconds=0.6)
    alice = await customer(services, 10)
    start = (await services.ledger.balance(alice.user_id)).balance
    swept: list[int] = []

    async def slow() -> tuple[str, Usage]:
        await asyncio.sleep(1.5)  # over twice the TTL
        swept.append(await meter.sweep())
        return "done", Usage(cost=2 * C)

    done = await meter.run(alice, tool="chat", permission="tools:chat", model="demo-chat", estimate=3 * C, work=slow)
    assert swept == [0] and done.charged == 2 * C
    assert (await services.ledger.balance(alice.user_id)).balance == start - 2 * C


def test_a_hold_ttl_shorter_than_the_longest_call_is_refused(database_url):
    with pytest.raises(ConfigError, match=r"billing\.hold_ttl_seconds \(60\) must be at least 150"):
        load_config(env=base_env(database_url, SMARTHUB_BILLING__HOLD_TTL_SECONDS="60"))
    ok = load_config(env=base_env(database_url, SMARTHUB_BILLING__HOLD_TTL_SECONDS="150"))
    assert ok.settings.billing.hold_ttl_seconds == 150


async def test_a_release_the_database_refuses_is_retried_and_logged(make_config, db, database_url, backend, caplog):
    """The connection to PostgreSQL drops as the provider fails: the release cannot run then. It is
    retried in the background, lands once the database answers, and every step is in the log."""
    if backend != "postgresql":
        pytest.skip("SQLite is a file: there is no connection to refuse")
    async with TcpProxy("127.0.0.1", 5432) as proxy:
        proxied = database_url.replace("@127.0.0.1:5432/", f"@127.0.0.1:{proxy.port}/")
        assert proxied != database_url
        services = build_services(make_config(SMARTHUB_DATABASE_URL=proxied))
        try:
            alice = await customer(services, 10)
            start = (await services.ledger.balance(alice.user_id)).balance

            async def fails_as_the_database_goes() -> tuple[str, Usage]:
                proxy.cut()
                asyncio.get_running_loop().call_later(1.0, proxy.resume)
                raise ProviderError("upstream failed", retryable=True)

            with caplog.at_level(logging.INFO, logger="smarthub.meter"), pytest.raises(ProviderError):
                await services.meter.run(alice, tool="chat", permission="tools:chat", model="demo-chat",
                                         estimate=3 * C, work=fails_as_the_database_goes)
            with caplog.at_level(logging.INFO, logger="smarthub.meter"):
                await asyncio.wait_for(services.meter.retries.wait(), 60)
        finally:
            await services.db.close()
    direct = build_services(make_config())
    try:
        balance = await direct.ledger.balance(alice.user_id)
        assert (balance.balance, balance.held) == (start, 0)
        async with direct.db.read() as conn:
            rows = (await conn.execute(text("SELECT status, error_code FROM usage_events WHERE user_id = :u"),
                                       {"u": alice.user_id})).all()
        assert [tuple(r) for r in rows] == [("error", "provider_error")]
    finally:
        await direct.db.close()
    messages = [r.getMessage() for r in caplog.records]
    assert any("could not release hold" in m and "retrying" in m for m in messages), messages
    assert any("done on attempt" in m for m in messages), messages


async def test_a_settle_whose_answer_is_lost_is_tried_again_and_the_call_answers(make_config, db, database_url,
                                                                                 backend, caplog):
    """The capture reaches PostgreSQL and commits; its answer is lost and the connection then cut.
    Answering an error would leave the user charged for a result they never saw: the settle is tried
    again on a new connection, finds its capture, and the call answers with its result, once charged."""
    if backend != "postgresql":
        pytest.skip("SQLite is a file: there is no connection to lose")
    async with TcpProxy("127.0.0.1", 5432) as proxy:
        proxied = database_url.replace("@127.0.0.1:5432/", f"@127.0.0.1:{proxy.port}/")
        services = build_services(make_config(SMARTHUB_DATABASE_URL=proxied))
        try:
            alice = await customer(services, 10)
            start = (await services.ledger.balance(alice.user_id)).balance

            async def done_as_the_network_fails() -> tuple[str, Usage]:
                proxy.drop_replies()  # the settle that follows is sent, and never answered

                def cut_then_resume() -> None:
                    proxy.cut()
                    proxy.resume()

                asyncio.get_running_loop().call_later(1.0, cut_then_resume)
                return "the answer", Usage(cost=2 * C)

            with caplog.at_level(logging.WARNING, logger="smarthub.meter"):
                metered = await asyncio.wait_for(services.meter.run(
                    alice, tool="chat", permission="tools:chat", model="demo-chat", estimate=3 * C,
                    work=done_as_the_network_fails), 30)
            await asyncio.wait_for(services.meter.retries.wait(), 30)
        finally:
            await services.db.close()
    assert metered.result == "the answer" and metered.charged == 2 * C
    direct = build_services(make_config())
    try:
        balance = await direct.ledger.balance(alice.user_id)
        assert (balance.balance, balance.held) == (start - 2 * C, 0)
        async with direct.db.read() as conn:
            rows = (await conn.execute(text("SELECT status, cost FROM usage_events WHERE user_id = :u"),
                                       {"u": alice.user_id})).all()
        assert [tuple(r) for r in rows] == [("ok", 2 * C)]
    finally:
        await direct.db.close()
    assert any("settling hold" in r.getMessage() and "trying again" in r.getMessage() for r in caplog.records)
