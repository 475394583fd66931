"""A stateful property test: random sequences of ledger verbs, with repeated idempotency keys,
against a plain-Python model of the books. Runs on SQLite and PostgreSQL.

Hypothesis drives a synchronous state machine, so the machine runs in a worker thread with an
event loop and a database engine of its own.
"""

from __future__ import annotations

import asyncio
import secrets

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, invariant, rule, run_state_machine_as_test

from smarthub_mcp.billing.ledger import Ledger
from smarthub_mcp.db import Database
from smarthub_mcp.errors import IdempotencyConflict, InsufficientCredits, LedgerError
from tests.factories import make_user

amounts = st.integers(min_value=1, max_value=50)
keys = st.integers(min_value=0, max_value=6)  # a small pool, so keys repeat


def build_machine(loop: asyncio.AbstractEventLoop, ledger: Ledger) -> type[RuleBasedStateMachine]:
    run = loop.run_until_complete

    class Books(RuleBasedStateMachine):
        holds = Bundle("holds")
        usages = Bundle("usages")

        def __init__(self) -> None:
            super().__init__()
            self.tag = secrets.token_hex(4)
            self.user = run(make_user(ledger.db))
            run(ledger.open_account(self.user))
            self.balance = 0
            self.open: dict[str, int] = {}
            self.captured: dict[str, object] = {}
            self.granted: dict[str, int] = {}
            self.reserved: dict[str, tuple[str, int]] = {}
            self.refunded: set[str] = set()

        def key(self, verb: str, k: int) -> str:
            return f"{self.tag}:{verb}:{k}"

        @rule(amount=amounts, k=keys, kind=st.sampled_from(["grant", "purchase", "promo"]))
        def grant(self, amount: int, k: int, kind: str) -> None:
            key = self.key("grant", k)
            try:
                run(ledger.grant(self.user, amount, kind=kind, idempotency_key=key))
            except IdempotencyConflict:
                assert self.granted[key] != amount
                return
            if key not in self.granted:
                self.granted[key] = amount
                self.balance += amount

        @rule(target=holds, amount=amounts, k=keys)
        def reserve(self, amount: int, k: int) -> str:
            key = self.key("reserve", k)
            held = sum(self.open.values())
            try:
                hold = run(ledger.reserve(self.user, amount, ttl_seconds=60, idempotency_key=key))
            except InsufficientCredits:
                assert key not in self.reserved and self.balance - held < amount
                return "hold_none"
            except IdempotencyConflict:
                assert self.reserved[key][1] != amount
                return "hold_none"
            if key in self.reserved:
                assert self.reserved[key][0] == hold.id
            else:
                assert self.balance - held >= amount
                self.reserved[key] = (hold.id, amount)
                self.open[hold.id] = amount
            return hold.id

        @rule(target=usages, hold=holds, actual=st.integers(min_value=0, max_value=60))
        def capture(self, hold: str, actual: int) -> str:
            if hold == "hold_none":
                return "ent_none"
            try:
                entry = run(ledger.capture(hold, actual))
            except LedgerError:
                assert hold not in self.open and hold not in self.captured
                return "ent_none"
            if hold in self.open:
                charged = min(actual, self.open.pop(hold))
                self.balance -= charged
                self.captured[hold] = entry
                assert (entry.amount if entry else 0) == -charged
            else:
                assert entry == self.captured[hold]
            return entry.id if entry else "ent_none"

        @rule(hold=holds)
        def release(self, hold: str) -> None:
            if hold == "hold_none":
                return
            assert run(ledger.release(hold)) == (hold in self.open)
            self.open.pop(hold, None)

        @rule(entry=usages, k=keys)
        def refund(self, entry: str, k: int) -> None:
            if entry == "ent_none":
                return
            key = self.key(f"refund:{entry}", k)
            try:
                refund = run(ledger.refund(entry, idempotency_key=key))
            except LedgerError:
                assert entry in self.refunded
                return
            if key not in self.refunded:
                self.refunded.update({entry, key})
                self.balance += refund.amount

        @rule(amount=st.integers(min_value=-50, max_value=50).filter(bool), k=keys)
        def adjust(self, amount: int, k: int) -> None:
            key = self.key(f"adjust:{amount}", k)
            fresh = key not in self.granted
            try:
                run(ledger.adjust(self.user, amount, reason="test", actor_id=None, idempotency_key=key))
            except InsufficientCredits:
                assert fresh and self.balance - sum(self.open.values()) < -amount
                return
            if fresh:
                self.granted[key] = amount
                self.balance += amount

        @rule()
        def sweep(self) -> None:
            run(ledger.expire_holds(2**62))
            self.open.clear()

        @invariant()
        def books_agree(self) -> None:
            balance = run(ledger.balance(self.user))
            assert balance.balance == self.balance
            assert balance.held == sum(self.open.values())
            assert balance.available >= 0

        def teardown(self) -> None:
            assert run(ledger.check()) == []

    return Books


def run_machine(database_url: str) -> None:
    loop = asyncio.new_event_loop()
    db = Database(database_url, pool_size=2)
    try:
        machine = build_machine(loop, Ledger(db))
        run_state_machine_as_test(
            machine,
            settings=settings(
                max_examples=25, stateful_step_count=30, deadline=None, suppress_health_check=list(HealthCheck)
            ),
        )
    finally:
        loop.run_until_complete(db.close())
        loop.close()


async def test_random_sequences_keep_every_invariant(db, database_url):
    await asyncio.wait_for(asyncio.to_thread(run_machine, database_url), 300)
