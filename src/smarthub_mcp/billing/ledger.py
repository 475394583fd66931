"""The ledger: the only code that changes balances.

Every verb is one database transaction (the caller's, when it hands one in through `conn`) and
carries a UNIQUE idempotency key: repeating a call with the same key returns the first result and
changes nothing. Rules, enforced here and again by the schema (sql/0003_ledger.sql):

- A debit is one conditional UPDATE (`WHERE balance - held + overdraft_limit >= :amount`) checked by
  the row it returns, never a read followed by a write, so concurrent debits cannot overspend.
- A hold resolves exactly once: capture, release and expiry are compare-and-set on `status = 'open'`.
- Entries are append-only and carry `balance_after`; mistakes are corrected by new entries.

SQLite writes are serialized by `Database.write()`; PostgreSQL runs at READ COMMITTED, where a
conditional UPDATE re-checks its WHERE against the latest committed row before it writes.

The hot verbs (reserve, capture, release, expiry) are the ledger store's, one per database
(billing/stores.py): on SQLite in one hand-off, on PostgreSQL as one statement each, which on its
own (no caller's transaction) is its own transaction: one round trip (docs/DESIGN-NOTES.md,
Performance).

This module holds the account and entry verbs (open, grant, refund, adjust, debit); the hold verbs
are billing/ledger_holds.py, the read side billing/ledger_reads.py and the low-balance alert
(policy, mark, notification) billing/alerts.py. `Ledger` is the one class that puts them together.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, NoReturn

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from smarthub_mcp.billing import queries as q
from smarthub_mcp.billing.alerts import LowBalanceAlerts, LowBalanceNotifier
from smarthub_mcp.billing.errors import BalanceLimit
from smarthub_mcp.billing.ledger_holds import LedgerHolds
from smarthub_mcp.billing.ledger_reads import LedgerReads
from smarthub_mcp.billing.ledger_rows import entry_params, insufficient, require_positive
from smarthub_mcp.billing.money import format_credits
from smarthub_mcp.billing.records import Balance, Drift, Entry, Hold, LowBalancePolicy
from smarthub_mcp.billing.stores import LedgerStore, ledger_store
from smarthub_mcp.db import Database, cached_text
from smarthub_mcp.errors import IdempotencyConflict, InvalidRequest, LedgerError, NotFound
from smarthub_mcp.ids import new_id, now_ms

__all__ = ["Balance", "Drift", "Entry", "Hold", "Ledger", "LowBalancePolicy"]

CREDIT_KINDS = frozenset({"grant", "purchase", "promo"})
DEBIT_KINDS = frozenset({"reversal", "usage", "adjustment"})


class Ledger(LedgerHolds, LedgerReads):
    """The money verbs: the account and entry verbs here, the hold verbs (reserve, capture,
    release, expiry) from `LedgerHolds`; the reads (balance, find_entry, hold, history, check) come
    from `LedgerReads` and the low-balance policy and notification from `LowBalanceAlerts`."""

    def __init__(
        self,
        db: Database,
        *,
        low_balance: LowBalancePolicy | None = None,
        notify_low_balance: LowBalanceNotifier | None = None,
        store: LedgerStore | None = None,
    ) -> None:
        self.db = db
        self.store = store or ledger_store(db)
        self.alerts = LowBalanceAlerts(low_balance or LowBalancePolicy(), notify_low_balance)

    @property
    def low_balance(self) -> LowBalancePolicy:
        return self.alerts.policy

    @property
    def notify_low_balance(self) -> LowBalanceNotifier | None:
        return self.alerts.notify

    # --- plumbing ---------------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def _tx(self, conn: AsyncConnection | None) -> AsyncIterator[AsyncConnection]:
        if conn is not None:
            yield conn
        else:
            async with self.db.write() as own:
                yield own

    async def _idempotent(
        self, conn: AsyncConnection | None, key: str, body: Callable[[AsyncConnection], Awaitable[Entry]]
    ) -> Entry:
        """Run `body` once per key: a repeat returns the first entry.

        Two racing calls with one key both pass the first look-up; the loser's INSERT then hits the
        UNIQUE key and its whole transaction rolls back, after which the winner's entry is read.
        Inside a caller's transaction the IntegrityError propagates: that transaction is void.
        """
        try:
            async with self._tx(conn) as c:
                found = await self._entry_by(c, "idempotency_key", key)
                if found is not None:
                    return found
                return await body(c)
        except IntegrityError:
            if conn is not None:
                raise
            async with self.db.read() as c:
                found = await self._entry_by(c, "idempotency_key", key)
            if found is None:
                raise
            return found

    async def _insert_entry(self, conn: AsyncConnection, **values: Any) -> Entry:
        entry = Entry(
            id=new_id("ent"),
            account_id=values["account_id"],
            amount=values["amount"],
            kind=values["kind"],
            reference=values.get("reference"),
            actor_id=values.get("actor_id"),
            memo=values.get("memo"),
            idempotency_key=values["idempotency_key"],
            hold_id=values.get("hold_id"),
            refund_of=values.get("refund_of"),
            balance_after=values["balance_after"],
            created_at=now_ms(),
        )
        await conn.execute(cached_text(q.INSERT_ENTRY), entry_params(entry))
        return entry

    async def _credit(self, conn: AsyncConnection, user_id: str, amount: int, *, topup: bool) -> tuple[int, ...]:
        sql = q.CREDIT_TOPUP if topup else q.CREDIT
        params = {"u": user_id, "a": amount, "now": now_ms(), "cap": q.MAX_BALANCE}
        row = (await conn.execute(cached_text(sql), params)).first()
        if row is None:
            if await self._has_account(conn, user_id):
                raise BalanceLimit(
                    "this credit would take the balance past the most an account may hold",
                    details={"user_id": user_id, "max_balance": format_credits(q.MAX_BALANCE)},
                )
            raise NotFound("this user has no credit account", details={"user_id": user_id})
        await self.alerts.rearm(conn, user_id, row)
        return tuple(row)

    async def _has_account(self, conn: AsyncConnection, user_id: str) -> bool:
        found = await conn.execute(cached_text("SELECT 1 FROM accounts WHERE user_id = :u"), {"u": user_id})
        return found.first() is not None

    async def _debit(self, conn: AsyncConnection, user_id: str, amount: int, *, force: bool) -> tuple[int, ...]:
        sql = q.DEBIT_FORCED if force else q.DEBIT
        row = (await conn.execute(cached_text(sql), {"u": user_id, "a": amount, "now": now_ms()})).first()
        if row is None:
            await self._raise_insufficient(conn, user_id, amount)
        await self._check_low_balance(conn, user_id, row)
        return tuple(row)

    async def _raise_insufficient(self, conn: AsyncConnection, user_id: str, required: int) -> NoReturn:
        account = (await conn.execute(cached_text(q.ACCOUNT), {"u": user_id})).first()
        raise insufficient(user_id, required, account)

    async def _check_low_balance(self, conn: AsyncConnection, user_id: str, row: Any) -> None:
        self.alerts.send(await self.alerts.mark(conn, user_id, row))

    async def drain_notifications(self) -> None:
        """Wait for low-balance alerts in flight (shutdown, tests)."""
        await self.alerts.drain()

    # --- verbs ------------------------------------------------------------------------------

    async def open_account(
        self, user_id: str, *, overdraft_limit: int = 0, conn: AsyncConnection | None = None
    ) -> None:
        """Create the user's account (idempotent)."""
        if overdraft_limit < 0:
            raise InvalidRequest("overdraft_limit must not be negative")
        async with self._tx(conn) as c:
            await c.execute(cached_text(q.OPEN_ACCOUNT), {"u": user_id, "o": overdraft_limit, "now": now_ms()})

    async def grant(
        self,
        user_id: str,
        amount: int,
        *,
        kind: str,
        idempotency_key: str,
        reference: str | None = None,
        actor_id: str | None = None,
        memo: str | None = None,
        conn: AsyncConnection | None = None,
    ) -> Entry:
        """Add credits: sign-up grant, purchase, promo, admin grant."""
        if kind not in CREDIT_KINDS:
            raise InvalidRequest(f"grant kind must be one of {sorted(CREDIT_KINDS)}")
        require_positive(amount)

        async def body(c: AsyncConnection) -> Entry:
            balance = (await self._credit(c, user_id, amount, topup=True))[0]
            return await self._insert_entry(
                c, account_id=user_id, amount=amount, kind=kind, reference=reference, actor_id=actor_id,
                memo=memo, idempotency_key=idempotency_key, balance_after=balance,
            )

        return _same(await self._idempotent(conn, idempotency_key, body), user_id, amount)

    async def refund(
        self,
        entry_id: str,
        *,
        idempotency_key: str,
        amount: int | None = None,
        actor_id: str | None = None,
        memo: str | None = None,
        conn: AsyncConnection | None = None,
    ) -> Entry:
        """Give back (part of) a usage entry. Each usage entry is refunded at most once."""

        async def body(c: AsyncConnection) -> Entry:
            original = await self._entry_by(c, "id", entry_id)
            if original is None:
                raise NotFound("no such ledger entry", details={"entry_id": entry_id})
            if original.kind != "usage":
                raise InvalidRequest("only usage entries can be refunded", details={"kind": original.kind})
            value = -original.amount if amount is None else amount
            if not 0 < value <= -original.amount:
                raise InvalidRequest("a refund is positive and at most the amount charged")
            if await self._entry_by(c, "refund_of", entry_id) is not None:
                raise LedgerError("this entry was already refunded", details={"entry_id": entry_id})
            balance = (await self._credit(c, original.account_id, value, topup=False))[0]
            return await self._insert_entry(
                c, account_id=original.account_id, amount=value, kind="refund", reference=original.reference,
                actor_id=actor_id, memo=memo, idempotency_key=idempotency_key, refund_of=entry_id,
                balance_after=balance,
            )

        return await self._idempotent(conn, idempotency_key, body)

    async def adjust(
        self,
        user_id: str,
        amount_signed: int,
        *,
        reason: str,
        actor_id: str | None,
        idempotency_key: str,
        conn: AsyncConnection | None = None,
    ) -> Entry:
        """An admin correction, either sign. A negative one cannot take the available balance below zero."""
        if amount_signed == 0:
            raise InvalidRequest("an adjustment cannot be zero")
        if not reason.strip():
            raise InvalidRequest("an adjustment needs a reason")

        async def body(c: AsyncConnection) -> Entry:
            if amount_signed > 0:
                balance = (await self._credit(c, user_id, amount_signed, topup=False))[0]
            else:
                balance = (await self._debit(c, user_id, -amount_signed, force=False))[0]
            return await self._insert_entry(
                c, account_id=user_id, amount=amount_signed, kind="adjustment", actor_id=actor_id, memo=reason,
                idempotency_key=idempotency_key, balance_after=balance,
            )

        return _same(await self._idempotent(conn, idempotency_key, body), user_id, amount_signed)

    async def debit(
        self,
        user_id: str,
        amount: int,
        *,
        kind: str = "reversal",
        idempotency_key: str,
        allow_negative: bool = False,
        reference: str | None = None,
        actor_id: str | None = None,
        memo: str | None = None,
        conn: AsyncConnection | None = None,
    ) -> Entry:
        """Take credits back (a payment clawback). With allow_negative the balance may go below
        zero; the shortfall is recorded in the account's `debt_allowed` and blocks further spending."""
        if kind not in DEBIT_KINDS:
            raise InvalidRequest(f"debit kind must be one of {sorted(DEBIT_KINDS)}")
        require_positive(amount)

        async def body(c: AsyncConnection) -> Entry:
            balance = (await self._debit(c, user_id, amount, force=allow_negative))[0]
            return await self._insert_entry(
                c, account_id=user_id, amount=-amount, kind=kind, reference=reference, actor_id=actor_id,
                memo=memo, idempotency_key=idempotency_key, balance_after=balance,
            )

        return _same(await self._idempotent(conn, idempotency_key, body), user_id, -amount)


def _same(entry: Entry, user_id: str, amount: int) -> Entry:
    if entry.account_id != user_id or entry.amount != amount:
        raise IdempotencyConflict("this idempotency key was already used for a different movement")
    return entry
