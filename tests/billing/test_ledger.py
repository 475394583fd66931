"""The ledger, as bookkeeping: every test runs on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, IntegrityError

from smarthub_mcp.billing.ledger import Ledger, LowBalancePolicy
from smarthub_mcp.billing.records import Record
from smarthub_mcp.credits import MICRO
from smarthub_mcp.errors import (
    IdempotencyConflict,
    InsufficientCredits,
    InvalidRequest,
    LedgerError,
    NotFound,
)
from tests.factories import make_user

C = MICRO  # one credit


async def funded(ledger: Ledger, credits: int = 100) -> str:
    user = await make_user(ledger.db)
    await ledger.open_account(user)
    if credits:
        await ledger.grant(user, credits * C, kind="purchase", idempotency_key=f"buy:{user}")
    return user


async def open_holds(ledger: Ledger) -> int:
    async with ledger.db.read() as conn:
        return (await conn.execute(text("SELECT COUNT(*) FROM holds WHERE status = 'open'"))).scalar_one()


@pytest.fixture
def ledger(db) -> Ledger:
    return Ledger(db)


async def test_buys_100_chat_costs_3_2_provider_fails_96_8_remain(ledger):
    user = await funded(ledger, 100)
    chat = await ledger.reserve(user, 5 * C, ttl_seconds=60, idempotency_key="call-1")
    assert (await ledger.balance(user)).available == 95 * C
    entry = await ledger.capture(chat.id, 3_200_000)
    assert entry is not None and entry.amount == -3_200_000 and entry.balance_after == 96_800_000
    failed = await ledger.reserve(user, 5 * C, ttl_seconds=60, idempotency_key="call-2")
    assert await ledger.release(failed.id) is True
    balance = await ledger.balance(user)
    assert (balance.balance, balance.held, balance.available) == (96_800_000, 0, 96_800_000)
    assert await open_holds(ledger) == 0
    assert await ledger.check() == []


async def test_a_repeated_key_returns_the_first_result_and_changes_nothing(ledger):
    user = await funded(ledger, 0)
    first = await ledger.grant(user, 7 * C, kind="promo", idempotency_key="promo:x")
    again = await ledger.grant(user, 7 * C, kind="promo", idempotency_key="promo:x")
    assert again == first
    assert (await ledger.balance(user)).balance == 7 * C
    with pytest.raises(IdempotencyConflict):
        await ledger.grant(user, 8 * C, kind="promo", idempotency_key="promo:x")
    hold = await ledger.reserve(user, 2 * C, ttl_seconds=60, idempotency_key="h")
    assert await ledger.reserve(user, 2 * C, ttl_seconds=60, idempotency_key="h") == hold
    assert (await ledger.balance(user)).held == 2 * C
    captured = await ledger.capture(hold.id, C)
    assert await ledger.capture(hold.id, C) == captured
    assert (await ledger.balance(user)).balance == 6 * C


async def test_reserve_beyond_the_available_balance_is_refused_with_details(ledger):
    user = await funded(ledger, 10)
    await ledger.reserve(user, 8 * C, ttl_seconds=60, idempotency_key="a")
    with pytest.raises(InsufficientCredits) as info:
        await ledger.reserve(user, 3 * C, ttl_seconds=60, idempotency_key="b")
    assert info.value.details == {"balance": "10.000000", "available": "2.000000", "required": "3.000000"}
    assert info.value.status == 402
    # a failed reserve leaves no trace, so the same key can succeed later
    await ledger.grant(user, C, kind="grant", idempotency_key="more")
    assert (await ledger.reserve(user, 3 * C, ttl_seconds=60, idempotency_key="b")).amount == 3 * C


async def test_capture_is_at_most_the_hold_and_a_hold_resolves_once(ledger):
    user = await funded(ledger, 10)
    hold = await ledger.reserve(user, 2 * C, ttl_seconds=60, idempotency_key="a")
    entry = await ledger.capture(hold.id, 5 * C)  # above the estimate: the house absorbs it
    assert entry is not None and entry.amount == -2 * C
    assert await ledger.release(hold.id) is False
    released = await ledger.reserve(user, C, ttl_seconds=60, idempotency_key="b")
    assert await ledger.release(released.id) is True
    with pytest.raises(LedgerError):
        await ledger.capture(released.id, 1)
    free = await ledger.reserve(user, C, ttl_seconds=60, idempotency_key="c")
    assert await ledger.capture(free.id, 0) is None
    with pytest.raises(NotFound):
        await ledger.release("hold_missing")
    assert await ledger.balance(user) == (await ledger.balance(user))
    assert (await ledger.balance(user)).balance == 8 * C
    assert await ledger.check() == []


async def test_a_usage_entry_is_refunded_at_most_once(ledger):
    user = await funded(ledger, 10)
    hold = await ledger.reserve(user, 4 * C, ttl_seconds=60, idempotency_key="a")
    usage = await ledger.capture(hold.id, 3 * C)
    assert usage is not None
    with pytest.raises(InvalidRequest):
        await ledger.refund(usage.id, idempotency_key="r0", amount=4 * C)
    refund = await ledger.refund(usage.id, idempotency_key="r1", amount=2 * C)
    assert refund.amount == 2 * C and refund.balance_after == 9 * C
    assert await ledger.refund(usage.id, idempotency_key="r1", amount=2 * C) == refund
    with pytest.raises(LedgerError):
        await ledger.refund(usage.id, idempotency_key="r2")
    grant = (await ledger.history(user, kinds=["purchase"]))[0][0]
    with pytest.raises(InvalidRequest):
        await ledger.refund(grant.id, idempotency_key="r3")
    assert (await ledger.balance(user)).balance == 9 * C


async def test_adjustments_and_clawbacks(ledger):
    user = await funded(ledger, 10)
    admin = await make_user(ledger.db, role="admin")
    entry = await ledger.adjust(user, -4 * C, reason="duplicate purchase", actor_id=admin, idempotency_key="adj1")
    assert entry.kind == "adjustment" and entry.memo == "duplicate purchase" and entry.balance_after == 6 * C
    with pytest.raises(InsufficientCredits):
        await ledger.adjust(user, -7 * C, reason="too much", actor_id=admin, idempotency_key="adj2")
    await ledger.reserve(user, 5 * C, ttl_seconds=60, idempotency_key="h")
    # a payment clawback may take the balance below zero; it is recorded and spending stops
    back = await ledger.debit(user, 10 * C, idempotency_key="chargeback:1", allow_negative=True)
    assert back.balance_after == -4 * C and back.kind == "reversal"
    with pytest.raises(InsufficientCredits):
        await ledger.reserve(user, 1, ttl_seconds=60, idempotency_key="h2")
    with pytest.raises(InsufficientCredits):
        await ledger.debit(user, 1, idempotency_key="d2")
    await ledger.grant(user, 20 * C, kind="purchase", idempotency_key="buy2")
    assert (await ledger.balance(user)).available == 11 * C
    assert await ledger.check() == []


async def test_a_credit_past_the_balance_cap_is_refused_and_writes_nothing(ledger):
    """Sums stay inside BIGINT: SQLite would otherwise store an overflowing balance as a float and
    every later read of that account would fail."""
    from smarthub_mcp.billing.errors import BalanceLimit
    from smarthub_mcp.billing.queries import MAX_BALANCE

    user = await funded(ledger, 0)
    await ledger.grant(user, MAX_BALANCE - 5, kind="grant", idempotency_key="near")
    with pytest.raises(BalanceLimit) as info:
        await ledger.grant(user, 6, kind="promo", idempotency_key="over")
    assert info.value.code == "balance_limit" and info.value.status == 409
    with pytest.raises(BalanceLimit):
        await ledger.adjust(user, 10**15, reason="more", actor_id=user, idempotency_key="adj-over")
    assert (await ledger.balance(user)).balance == MAX_BALANCE - 5
    assert (await ledger.grant(user, 5, kind="promo", idempotency_key="exact")).balance_after == MAX_BALANCE
    async with ledger.db.read() as conn:
        keys = (await conn.execute(text("SELECT idempotency_key FROM ledger_entries WHERE account_id = :u"),
                                   {"u": user})).scalars().all()
    assert sorted(keys) == ["exact", "near"]
    assert await ledger.check() == []
    with pytest.raises(NotFound):
        await ledger.grant("usr_nobody", 1, kind="grant", idempotency_key="nobody")


async def test_the_sweeper_expires_holds_past_their_ttl(ledger):
    user = await funded(ledger, 10)
    old = await ledger.reserve(user, 3 * C, ttl_seconds=5, idempotency_key="old")
    fresh = await ledger.reserve(user, 3 * C, ttl_seconds=600, idempotency_key="fresh")
    later = old.expires_at + 1
    counts = await asyncio.gather(*(ledger.expire_holds(later) for _ in range(4)))
    assert sum(counts) == 1  # several sweepers at once: exactly one expiry
    assert (await ledger.hold(old.id)).status == "expired"
    assert (await ledger.hold(fresh.id)).status == "open"
    assert (await ledger.balance(user)).held == 3 * C
    with pytest.raises(LedgerError) as info:
        await ledger.capture(old.id, C)
    assert info.value.code == "hold_expired"  # the meter delivers such a call uncharged
    assert await ledger.check() == []


async def test_history_pages_with_a_cursor_and_filters(ledger):
    user = await funded(ledger, 10)
    for i in range(5):
        hold = await ledger.reserve(user, C, ttl_seconds=60, idempotency_key=f"h{i}")
        await ledger.capture(hold.id, C // 2)
    page, cursor = await ledger.history(user, limit=4)
    assert len(page) == 4 and cursor is not None
    rest, end = await ledger.history(user, limit=4, cursor=cursor)
    assert len(rest) == 2 and end is None
    assert {e.id for e in page} | {e.id for e in rest} == {e.id for e in (await ledger.history(user, limit=10))[0]}
    usage, _ = await ledger.history(user, kinds=["usage"])
    assert len(usage) == 5 and all(e.kind == "usage" for e in usage)
    none, _ = await ledger.history(user, since_ms=page[0].created_at + 1)
    assert none == []


async def test_low_balance_alerts_once_per_crossing(db):
    alerts: list[tuple[str, int, int]] = []

    async def notify(user_id: str, balance: int, threshold: int) -> None:
        alerts.append((user_id, balance, threshold))

    ledger = Ledger(db, low_balance=LowBalancePolicy(percent=10), notify_low_balance=notify)
    user = await funded(ledger, 100)  # threshold: 10 credits
    for i in range(3):
        hold = await ledger.reserve(user, 40 * C, ttl_seconds=60, idempotency_key=f"a{i}")
        await ledger.capture(hold.id, 30 * C)  # 70, 40, 10: not below yet
    hold = await ledger.reserve(user, 5 * C, ttl_seconds=60, idempotency_key="b")
    await ledger.capture(hold.id, C)  # 9: crosses
    hold = await ledger.reserve(user, 5 * C, ttl_seconds=60, idempotency_key="c")
    await ledger.capture(hold.id, C)  # 8: still below, no second email
    await ledger.drain_notifications()
    assert alerts == [(user, 9 * C, 10 * C)]
    await ledger.grant(user, 50 * C, kind="purchase", idempotency_key="topup")  # re-arms (threshold 5)
    hold = await ledger.reserve(user, 55 * C, ttl_seconds=60, idempotency_key="d")
    await ledger.capture(hold.id, 54 * C)  # 4: crosses again
    await ledger.drain_notifications()
    assert alerts[-1] == (user, 4 * C, 5 * C) and len(alerts) == 2


async def test_the_database_refuses_writes_that_break_an_invariant(ledger):
    user = await funded(ledger, 10)
    entry = (await ledger.history(user))[0][0]
    refused = [
        ("UPDATE accounts SET held = balance + 1 WHERE user_id = :u", IntegrityError),
        ("UPDATE accounts SET balance = -1 WHERE user_id = :u", IntegrityError),
        ("UPDATE accounts SET held = -1 WHERE user_id = :u", IntegrityError),
        (
            "INSERT INTO ledger_entries (id, account_id, amount, kind, idempotency_key, balance_after, created_at)"
            f" VALUES ('ent_dup', :u, 1, 'grant', '{entry.idempotency_key}', 1, 0)",
            IntegrityError,
        ),
        (
            "INSERT INTO holds (id, account_id, amount, status, idempotency_key, expires_at, created_at)"
            " VALUES ('hold_x', 'usr_nobody', 1, 'open', 'k', 0, 0)",
            IntegrityError,
        ),
        ("UPDATE ledger_entries SET amount = 1000 WHERE account_id = :u", DBAPIError),
        ("DELETE FROM ledger_entries WHERE account_id = :u", DBAPIError),
    ]
    for sql, error in refused:
        with pytest.raises(error):
            async with ledger.db.write() as conn:
                await conn.execute(text(sql), {"u": user})
    assert (await ledger.balance(user)).balance == 10 * C
    assert await ledger.check() == []


async def test_check_reports_drift(ledger):
    user = await funded(ledger, 10)
    async with ledger.db.write() as conn:
        await conn.execute(text("UPDATE accounts SET balance = balance + 1 WHERE user_id = :u"), {"u": user})
    [drift] = await ledger.check()
    assert (drift.user_id, drift.balance, drift.entries_sum) == (user, 10 * C + 1, 10 * C)


async def test_verbs_join_the_callers_transaction(ledger):
    user = await make_user(ledger.db)
    with pytest.raises(RuntimeError):
        async with ledger.db.write() as conn:
            await ledger.open_account(user, conn=conn)
            await ledger.grant(user, C, kind="grant", idempotency_key=f"signup:{user}", conn=conn)
            raise RuntimeError("the caller fails after the grant")
    with pytest.raises(NotFound):
        await ledger.balance(user)


async def test_reserve_and_capture_in_the_callers_transaction_roll_back_with_it(ledger):
    user = await funded(ledger, 10)
    with pytest.raises(RuntimeError):
        async with ledger.db.write() as conn:
            hold = await ledger.reserve(user, 4 * C, ttl_seconds=60, idempotency_key="in-tx", conn=conn)
            assert (await ledger.balance(user, conn=conn)).held == 4 * C  # the caller sees its own writes
            await ledger.capture(hold.id, 3 * C, conn=conn)
            await ledger.release((await ledger.reserve(user, C, ttl_seconds=60, idempotency_key="x", conn=conn)).id,
                                 conn=conn)
            raise RuntimeError("the caller fails after the capture")
    balance = await ledger.balance(user)
    assert (balance.balance, balance.held) == (10 * C, 0)
    assert await ledger.hold(hold.id) is None and await open_holds(ledger) == 0
    assert await ledger.check() == []


async def test_a_verb_that_fails_in_the_database_leaves_nothing_behind(ledger):
    user = await funded(ledger, 10)
    hold = await ledger.reserve(user, 4 * C, ttl_seconds=60, idempotency_key="clash")
    # The capture's entry key is taken, so its INSERT fails after the hold and the account moved.
    await ledger.grant(user, C, kind="promo", idempotency_key=f"capture:{hold.id}")
    with pytest.raises(IntegrityError):
        await ledger.capture(hold.id, 3 * C)
    assert (await ledger.hold(hold.id)).status == "open"
    balance = await ledger.balance(user)
    assert (balance.balance, balance.held) == (11 * C, 4 * C)
    assert await ledger.check() == []


def usage_record(user: str, row_id: str, hold_id: str) -> Record:
    values = {"id": row_id, "user_id": user, "tool": "chat", "model": "demo-chat", "provider": None,
              "upstream_model": None, "status": "ok", "error_code": None, "input_tokens": 1, "output_tokens": 2,
              "images": 0, "seconds": 0, "estimate": 5 * C, "hold_id": hold_id, "latency_ms": 3,
              "request_id": None, "created_at": 1}
    return Record("usage_events", values, charged_column="cost")


async def usage_costs(ledger: Ledger) -> list[tuple[str, int]]:
    async with ledger.db.read() as conn:
        return [tuple(r) for r in await conn.execute(text("SELECT id, cost FROM usage_events ORDER BY id"))]


async def test_capture_recorded_writes_the_row_with_the_charge_atomically_and_only_once(ledger):
    user = await funded(ledger, 10)
    hold = await ledger.reserve(user, 5 * C, ttl_seconds=60, idempotency_key="call-1")
    # the row is part of the capture: when it cannot be written, nothing is captured either
    async with ledger.db.write() as conn:
        await conn.execute(text(
            "INSERT INTO usage_events (id, user_id, tool, status, estimate, cost, created_at)"
            " VALUES ('use_taken', :u, 'chat', 'error', 0, 0, 0)"), {"u": user})
    with pytest.raises(IntegrityError):
        await ledger.capture_recorded(hold.id, 7 * C, memo="m", record=usage_record(user, "use_taken", hold.id))
    assert (await ledger.hold(hold.id)).status == "open"
    assert (await ledger.balance(user)).held == 5 * C
    # above the hold: the hold is charged, and the row says what was charged
    charged, balance = await ledger.capture_recorded(hold.id, 7 * C, memo="m",
                                                     record=usage_record(user, "use_1", hold.id))
    assert (charged, balance) == (5 * C, 5 * C)
    # a repeat charges nothing more and writes no second row
    again = await ledger.capture_recorded(hold.id, 7 * C, memo="m", record=usage_record(user, "use_2", hold.id))
    assert again == (5 * C, None)
    # a hold closed for nothing still gets its row, with cost 0
    free = await ledger.reserve(user, C, ttl_seconds=60, idempotency_key="call-2")
    assert await ledger.capture_recorded(free.id, 0, memo=None, record=usage_record(user, "use_3", free.id)) == (
        0, 5 * C)
    # an expired hold: nothing charged, nothing written
    late = await ledger.reserve(user, C, ttl_seconds=5, idempotency_key="call-3")
    assert await ledger.expire_holds(late.expires_at) == 1
    with pytest.raises(LedgerError) as info:
        await ledger.capture_recorded(late.id, C, memo=None, record=usage_record(user, "use_4", late.id))
    assert info.value.code == "hold_expired"
    assert await usage_costs(ledger) == [("use_1", 5 * C), ("use_3", 0), ("use_taken", 0)]
    balance_now = await ledger.balance(user)
    assert (balance_now.balance, balance_now.held) == (5 * C, 0)
    assert await ledger.check() == []


async def test_the_store_is_the_databases_own_and_the_ledger_runs_on_the_one_it_is_given(db):
    """One ledger store per database, chosen once: the composition root hands it to the Ledger."""
    from smarthub_mcp.billing.stores import PostgresLedgerStore, SqliteLedgerStore, ledger_store

    store = ledger_store(db)
    assert type(store) is (SqliteLedgerStore if db.is_sqlite else PostgresLedgerStore)
    ledger = Ledger(db, store=store)
    assert ledger.store is store
    user = await funded(ledger, 10)
    hold = await ledger.reserve(user, 4 * C, ttl_seconds=60, idempotency_key=f"h:{user}")
    entry = await ledger.capture(hold.id, 3 * C)
    assert entry is not None and entry.balance_after == 7 * C
    assert (await ledger.balance(user)).balance == 7 * C and await open_holds(ledger) == 0
