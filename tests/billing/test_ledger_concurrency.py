"""Races, crashes and random sequences: the ledger never loses or invents a micro-credit."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap

import anyio
import pytest

from smarthub_mcp.billing.ledger import Ledger
from smarthub_mcp.credits import MICRO
from smarthub_mcp.errors import InsufficientCredits
from tests.factories import make_user

C = MICRO
ATTEMPTS = 200


@pytest.fixture
def ledger(db) -> Ledger:
    return Ledger(db)


async def spend(ledger: Ledger, user: str, i: int, amount: int) -> bool:
    try:
        hold = await ledger.reserve(user, amount, ttl_seconds=60, idempotency_key=f"race:{user}:{i}")
    except InsufficientCredits as exc:
        assert exc.code == "insufficient_credits"
        return False
    entry = await ledger.capture(hold.id, amount)
    assert entry is not None
    return True


async def test_200_concurrent_spends_against_a_balance_covering_k(ledger):
    user = await make_user(ledger.db)
    await ledger.open_account(user)
    k, price = 37, 250_000
    await ledger.grant(user, k * price, kind="purchase", idempotency_key="buy")
    with anyio.fail_after(120):
        results = await asyncio.gather(*(spend(ledger, user, i, price) for i in range(ATTEMPTS)))
    assert sum(results) == k
    balance = await ledger.balance(user)
    assert (balance.balance, balance.held) == (0, 0)
    assert await ledger.check() == []


async def test_concurrent_spends_with_grants_mixed_in(ledger):
    user = await make_user(ledger.db)
    await ledger.open_account(user)
    price, grants = 250_000, 20
    await ledger.grant(user, 30 * price, kind="purchase", idempotency_key="buy")

    async def top_up(i: int) -> None:
        kind = "promo" if i % 2 else "purchase"
        await ledger.grant(user, price, kind=kind, idempotency_key=f"topup:{i}")
        await ledger.grant(user, price, kind=kind, idempotency_key=f"topup:{i}")  # a retried webhook

    work = [spend(ledger, user, i, price) for i in range(ATTEMPTS)] + [top_up(i) for i in range(grants)]
    with anyio.fail_after(120):
        results = await asyncio.gather(*work)
    spent = sum(r for r in results if r is not None)
    assert 30 <= spent <= 30 + grants
    balance = await ledger.balance(user)
    assert balance.balance == (30 + grants - spent) * price and balance.held == 0
    assert await ledger.check() == []


async def test_concurrent_repeats_of_one_key_move_money_once(ledger):
    user = await make_user(ledger.db)
    await ledger.open_account(user)
    with anyio.fail_after(60):
        entries = await asyncio.gather(
            *(ledger.grant(user, C, kind="purchase", idempotency_key="cs_1") for _ in range(20))
        )
        holds = await asyncio.gather(
            *(ledger.reserve(user, C // 2, ttl_seconds=60, idempotency_key="once") for _ in range(20))
        )
        captures = await asyncio.gather(*(ledger.capture(holds[0].id, C // 4) for _ in range(20)))
    assert len({e.id for e in entries}) == 1 and len({h.id for h in holds}) == 1
    assert len({e.id for e in captures if e is not None}) == 1
    assert (await ledger.balance(user)).balance == C - C // 4
    assert await ledger.check() == []


CHILD = textwrap.dedent(
    """
    import asyncio, sys
    from smarthub_mcp.billing.ledger import Ledger
    from smarthub_mcp.db import Database

    async def main(url, user):
        db = Database(url)
        hold = await Ledger(db).reserve(user, 3_000_000, ttl_seconds=30, idempotency_key="job-1:attempt-1")
        print(hold.id, flush=True)
        await asyncio.Event().wait()  # the work "runs" until the process is killed

    asyncio.run(main(sys.argv[1], sys.argv[2]))
    """
)


async def test_a_process_killed_between_reserve_and_capture(ledger, database_url):
    user = await make_user(ledger.db)
    await ledger.open_account(user)
    await ledger.grant(user, 10 * C, kind="purchase", idempotency_key="buy")
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-c", CHILD, database_url, user, stdout=subprocess.PIPE, env=dict(os.environ)
    )
    try:
        with anyio.fail_after(60):
            hold_id = (await child.stdout.readline()).decode().strip()
    finally:
        child.send_signal(signal.SIGKILL)
        with anyio.fail_after(30):
            await child.wait()
    assert child.returncode == -signal.SIGKILL
    stranded = await ledger.hold(hold_id)
    assert stranded.status == "open" and (await ledger.balance(user)).available == 7 * C
    assert await ledger.expire_holds(stranded.expires_at - 1) == 0  # not before its TTL
    assert await ledger.expire_holds(stranded.expires_at) == 1
    assert (await ledger.balance(user)).available == 10 * C
    # the work is retried as a new attempt and charged once
    retry = await ledger.reserve(user, 3 * C, ttl_seconds=30, idempotency_key="job-1:attempt-2")
    await ledger.capture(retry.id, 2 * C)
    assert await ledger.expire_holds(retry.expires_at + 1) == 0
    balance = await ledger.balance(user)
    assert (balance.balance, balance.held) == (8 * C, 0)
    assert await ledger.check() == []


async def test_verbs_cancelled_mid_flight_leave_whole_books_and_usable_connections(ledger):
    """Cancel reserves and captures at every point of their flight (SQLite's worker-thread hand-off,
    PostgreSQL's bare asyncpg statement): each one either happened whole or not at all, and the
    pooled connections they were using keep working."""
    user = await make_user(ledger.db)
    await ledger.open_account(user)
    await ledger.grant(user, 1000 * C, kind="purchase", idempotency_key="buy")

    async def pair(i: int) -> None:
        hold = await ledger.reserve(user, C, ttl_seconds=60, idempotency_key=f"cancel:{i}")
        await ledger.capture(hold.id, C // 2)

    with anyio.fail_after(60):
        for yields in range(12):  # cancel after 0, 1, 2, ... trips round the event loop
            tasks = [asyncio.create_task(pair(yields * 100 + i)) for i in range(16)]
            for _ in range(yields):
                await asyncio.sleep(0)
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        assert await ledger.check() == []
        assert all(await asyncio.gather(*(spend(ledger, user, 10_000 + i, C) for i in range(40))))
        await ledger.expire_holds(2**62)
    assert await ledger.check() == []
    assert (await ledger.balance(user)).held == 0


WAITING_ON = """
SELECT count(*) FROM pg_stat_activity a
WHERE CAST(:p AS INT) = ANY(pg_blocking_pids(a.pid))
   OR EXISTS (SELECT 1 FROM pg_stat_activity b
              WHERE CAST(:p AS INT) = ANY(pg_blocking_pids(b.pid)) AND b.pid = ANY(pg_blocking_pids(a.pid)))
"""


async def test_the_sweeper_and_a_late_capture_on_one_account_never_deadlock(ledger, backend):
    """Two holds of one account are past their TTL; the sweeper expires the first while the meter
    captures the second. Every writer must take the hold row before the account row, and the
    sweeper must not keep an account locked while it goes on to the next hold: otherwise the
    sweeper (account locked, wants the second hold) and the capture (hold locked, wants the
    account) deadlock and PostgreSQL aborts one of them."""
    if backend == "sqlite":
        pytest.skip("row locks are PostgreSQL's; SQLite serializes whole write transactions")
    from sqlalchemy import text

    user = await make_user(ledger.db)
    await ledger.open_account(user)
    await ledger.grant(user, 10 * C, kind="purchase", idempotency_key="buy")
    first = await ledger.reserve(user, C, ttl_seconds=5, idempotency_key="first")
    second = await ledger.reserve(user, C, ttl_seconds=5, idempotency_key="second")
    assert first.id < second.id  # the sweeper takes due holds in id order
    due = max(first.expires_at, second.expires_at)
    async with ledger.db.engine.connect() as blocker:
        await blocker.begin()
        pid = (await blocker.execute(text("SELECT pg_backend_pid()"))).scalar()
        await blocker.execute(text("SELECT 1 FROM accounts WHERE user_id = :u FOR UPDATE"), {"u": user})

        async def waiting_on_blocker(n: int) -> None:
            """Until `n` backends wait on the blocker, directly or queued behind one that does.
            Each look is a statement of its own: pg_stat_activity is a snapshot per transaction."""
            while (await ledger.db.fetch_one(WAITING_ON, {"p": pid}))[0] < n:
                pass

        with anyio.fail_after(20):
            sweep = asyncio.create_task(ledger.expire_holds(due))
            await waiting_on_blocker(1)  # the sweeper holds `first` and waits for the account
            capture = asyncio.create_task(ledger.capture(second.id, C // 2))
            await waiting_on_blocker(2)  # the capture holds `second` and waits for the account
            await blocker.rollback()
            results = await asyncio.gather(sweep, capture, return_exceptions=True)
    assert not any(isinstance(r, BaseException) for r in results), results
    assert (await ledger.hold(first.id)).status == "expired"
    assert (await ledger.hold(second.id)).status == "captured"
    balance = await ledger.balance(user)
    assert (balance.balance, balance.held) == (10 * C - C // 2, 0)
    assert await ledger.check() == []
