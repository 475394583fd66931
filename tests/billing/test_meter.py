"""The meter: every call authorized, reserved, settled exactly once, and recorded."""

from __future__ import annotations

import asyncio
from typing import Any

import anyio
import pytest
from sqlalchemy import text

from smarthub_mcp.billing.meter import Usage
from smarthub_mcp.compose import build_services, close_services
from smarthub_mcp.credits import MICRO
from smarthub_mcp.errors import (
    DatabaseBusy,
    EmailNotVerified,
    Forbidden,
    InsufficientCredits,
    ProviderError,
    RateLimited,
)
from smarthub_mcp.identity.principal import Principal
from smarthub_mcp.ids import now_ms
from tests.factories import make_user

C = MICRO


async def customer(services, credits: int = 100, *, verified: bool = True) -> Principal:
    user = await make_user(services.db)
    async with services.db.write() as conn:
        for hook in services.user_created_hooks:  # what registration does
            await hook(conn, user)
    if credits:
        await services.ledger.grant(user, credits * C, kind="purchase", idempotency_key=f"buy:{user}")
    return Principal(user, "u@example.com", "user", frozenset({"tools:chat"}), "jwt", email_verified=verified)


async def usage_rows(services) -> list[tuple]:
    async with services.db.read() as conn:
        return list(await conn.execute(text(
            "SELECT tool, status, error_code, cost, estimate, input_tokens, provider FROM usage_events ORDER BY id"
        )))


async def chat_ok() -> tuple[str, Usage]:
    return "hello", Usage(cost=3_200_000, provider="demo", upstream_model="demo-chat-1", input_tokens=10,
                          output_tokens=20)


async def provider_fails() -> tuple[str, Usage]:
    raise ProviderError("upstream failed", retryable=True)


async def test_buys_100_chat_costs_3_2_provider_fails_96_8_remain(services):
    alice = await customer(services, 100)
    signup = services.settings.auth.signup_grant
    meter = services.meter
    done = await meter.run(alice, tool="chat", permission="tools:chat", model="demo-chat", estimate=5 * C,
                           work=chat_ok, request_id="r1")
    assert (done.result, done.charged, done.balance) == ("hello", 3_200_000, signup + 96_800_000)
    with pytest.raises(ProviderError):
        await meter.run(alice, tool="chat", permission="tools:chat", model="demo-chat", estimate=5 * C,
                        work=provider_fails, request_id="r2")
    balance = await services.ledger.balance(alice.user_id)
    assert (balance.balance, balance.held) == (signup + 96_800_000, 0)
    assert await usage_rows(services) == [
        ("chat", "ok", None, 3_200_000, 5 * C, 10, "demo"),
        ("chat", "error", "provider_error", 0, 5 * C, 0, None),
    ]
    assert await services.ledger.check() == []


async def test_insufficient_credits_says_how_much_and_how_to_top_up(services):
    bob = await customer(services, 0)
    with pytest.raises(InsufficientCredits) as info:
        await services.meter.run(bob, tool="chat", permission="tools:chat", model="demo-chat", estimate=5 * C,
                                 work=chat_ok)
    details = info.value.details
    assert details["estimate"] == "5.000000" and details["balance"] == "1.000000" and details["top_up"]
    assert await usage_rows(services) == [("chat", "rejected", "insufficient_credits", 0, 5 * C, 0, None)]


async def cancel_midway(services, principal, **run: Any) -> None:
    """Start a paid `chat` call whose work never ends, cancel it once the work has begun, and wait
    until its settlement is done (the client that goes away mid-call)."""
    started = asyncio.Event()

    async def work() -> tuple[str, Usage]:
        started.set()
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    call = asyncio.create_task(services.meter.run(
        principal, tool="chat", permission="tools:chat", model="demo-chat", estimate=2 * C, work=work, **run
    ))
    with anyio.fail_after(10):
        await started.wait()
        call.cancel()
        with pytest.raises(asyncio.CancelledError):
            await call
        await services.meter.drain()


async def test_a_cancelled_call_still_settles(services):
    carol = await customer(services, 10)
    await cancel_midway(services, carol)
    balance = await services.ledger.balance(carol.user_id)
    assert balance.held == 0 and balance.available == balance.balance
    assert [r[1:3] for r in await usage_rows(services)] == [("cancelled", "cancelled")]
    assert await services.ledger.check() == []


async def test_a_stream_cut_off_after_delivering_text_pays_for_that_text(services):
    # A client that reads a streamed answer and hangs up before the end must not get it free.
    gina = await customer(services, 10)
    so_far = Usage(cost=700_000, input_tokens=12, output_tokens=30)
    await cancel_midway(services, gina, delivered=lambda: so_far)  # part of the answer went out
    balance = await services.ledger.balance(gina.user_id)
    assert balance.held == 0
    assert balance.balance == services.settings.auth.signup_grant + 10 * C - 700_000
    assert [r[1:4] for r in await usage_rows(services)] == [("cancelled", "cancelled", 700_000)]
    assert await services.ledger.check() == []


async def test_a_call_that_fails_before_delivering_anything_is_not_charged(services):
    hank = await customer(services, 10)
    with pytest.raises(ProviderError):
        await services.meter.run(hank, tool="chat", permission="tools:chat", model="demo-chat", estimate=2 * C,
                                 work=provider_fails, delivered=Usage)
    balance = await services.ledger.balance(hank.user_id)
    assert (balance.balance, balance.held) == (services.settings.auth.signup_grant + 10 * C, 0)
    assert [r[1:4] for r in await usage_rows(services)] == [("error", "provider_error", 0)]


async def test_a_reserve_cancelled_while_it_waits_leaves_nothing_held(services, backend):
    if backend != "postgresql":
        pytest.skip("SQLite runs a reserve whole on the loop thread: it cannot be interrupted midway")
    erin = await customer(services, 10)

    async def never() -> tuple[str, Usage]:
        raise AssertionError("the call must not start")

    # Another transaction holds erin's account row, so the reserve statement waits inside PostgreSQL.
    async with services.db.engine.connect() as blocker:
        async with blocker.begin():
            await blocker.execute(text("SELECT 1 FROM accounts WHERE user_id = :u FOR UPDATE"), {"u": erin.user_id})
            call = asyncio.create_task(services.meter.run(
                erin, tool="chat", permission="tools:chat", model="demo-chat", estimate=2 * C, work=never
            ))
            await asyncio.sleep(0.5)  # the reserve is sent and waits for the row lock
            assert not call.done()
            call.cancel()
            with pytest.raises(asyncio.CancelledError):
                await call
    await services.meter.drain(retry_grace_seconds=1)
    balance = await services.ledger.balance(erin.user_id)
    assert balance.held == 0 and balance.available == balance.balance
    assert await services.ledger.check() == []


async def test_an_interrupted_reserve_that_committed_is_released_at_once(services):
    # What the meter does when a reserve was interrupted after its statement committed: the hold
    # under the call's key is released now, not when the sweeper expires it.
    frank = await customer(services, 10)
    hold = await services.ledger.reserve(frank.user_id, 2 * C, ttl_seconds=900, idempotency_key="call_k1",
                                         reference="chat")
    assert (await services.ledger.balance(frank.user_id)).held == 2 * C
    soon = now_ms() + 500
    services.meter._release_unclaimed("call_k1", soon)
    services.meter._release_unclaimed("call_never_reserved", soon)  # nothing under that key: gives up, no error
    await services.meter.retries.wait()
    balance = await services.ledger.balance(frank.user_id)
    assert balance.held == 0 and balance.available == balance.balance
    assert (await services.ledger.hold_by_key("call_k1")).status == "released"
    assert (await services.ledger.hold(hold.id)).status == "released"


async def test_free_tools_take_no_hold_but_are_checked(services):
    dave = await customer(services, 0)

    async def free() -> tuple[str, Usage]:
        return "models", Usage()

    done = await services.meter.run(dave, tool="list_models", permission="tools:chat", model=None, estimate=0,
                                    work=free)
    assert (done.charged, done.hold_id, done.balance) == (0, None, None)
    with pytest.raises(Forbidden):
        await services.meter.run(dave, tool="admin", permission="users:manage", model=None, estimate=0, work=free)

    class Closed:
        async def check(self, principal, tool, tokens):
            raise RateLimited(retry_after=3)

    closed = build_services(services.config, db=services.db, rate_limiter=Closed())
    with pytest.raises(RateLimited):
        await closed.meter.run(dave, tool="list_models", permission="tools:chat", model=None, estimate=0,
                                 work=free)
    statuses = [r[1:3] for r in await usage_rows(services)]
    # A free call that went through leaves no usage row; refusals always do.
    assert statuses == [("rejected", "forbidden"), ("rejected", "rate_limited")]


async def test_unverified_email_blocks_paid_tools_when_required(make_config, db):

    services = build_services(make_config(SMARTHUB_AUTH__REQUIRE_VERIFIED_EMAIL="true"))
    try:
        erin = await customer(services, 10, verified=False)
        with pytest.raises(EmailNotVerified) as info:
            await services.meter.run(erin, tool="chat", permission="tools:chat", model="demo-chat", estimate=C,
                                     work=chat_ok)
        assert info.value.code == "email_not_verified" and info.value.status == 403
    finally:
        await services.db.close()


async def test_a_hold_the_sweeper_expired_mid_call_is_not_charged_and_is_recorded(services):
    """The provider call outlived the hold's TTL and the sweeper released it: the work is delivered
    uncharged (the funds were already given back), the outcome is on record, the books are whole."""
    frank = await customer(services, 10)
    before = (await services.ledger.balance(frank.user_id)).balance

    async def outlives_its_hold() -> tuple[str, Usage]:
        assert await services.ledger.expire_holds(2**62) == 1  # the sweeper, as if the TTL had passed
        return await chat_ok()

    done = await services.meter.run(frank, tool="chat", permission="tools:chat", model="demo-chat", estimate=5 * C,
                                    work=outlives_its_hold, request_id="late")
    assert (done.result, done.charged, done.balance) == ("hello", 0, before)
    balance = await services.ledger.balance(frank.user_id)
    assert (balance.balance, balance.held) == (before, 0)
    assert await usage_rows(services) == [("chat", "ok", "hold_expired", 0, 5 * C, 10, "demo")]
    assert (await services.ledger.hold(done.hold_id)).status == "expired"
    assert await services.ledger.check() == []


@pytest.mark.parametrize("backend", ["postgresql"])  # a dry pool is PostgreSQL's; SQLite writes queue on a lock
async def test_a_call_whose_settlement_the_store_refuses_gives_its_hold_back(make_config, db):
    """The work is done but the hot pool stays dry past its timeout: the caller gets database_busy,
    not the result, so nothing is charged and the hold goes back at once (not at its expiry)."""
    services = build_services(make_config(SMARTHUB_DATABASE__POOL_SIZE="1",
                                          SMARTHUB_DATABASE__POOL_TIMEOUT_SECONDS="0.2"))
    try:
        principal = await customer(services)
        before = (await services.ledger.balance(principal.user_id)).balance
        taken, free = asyncio.Event(), asyncio.Event()

        async def occupy_the_pool() -> None:
            async with services.db.asyncpg_autocommit():
                taken.set()
                await asyncio.wait_for(free.wait(), 30)

        async def work_then_pool_dry() -> tuple[str, Usage]:
            occupier = asyncio.create_task(occupy_the_pool())
            occupiers.append(occupier)
            await taken.wait()
            return await chat_ok()

        occupiers: list[asyncio.Task[None]] = []
        with pytest.raises(DatabaseBusy):
            await services.meter.run(principal, tool="chat", permission="tools:chat", model="demo-chat",
                                     estimate=5 * C, work=work_then_pool_dry)
        free.set()
        await occupiers[0]
        balance = await services.ledger.balance(principal.user_id)
        assert (balance.balance, balance.held) == (before, 0)
        assert await usage_rows(services) == [("chat", "error", "database_busy", 0, 5 * C, 0, None)]
    finally:
        await close_services(services)
