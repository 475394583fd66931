"""The ledger's hold verbs: reserve, capture (and `capture_recorded`, the meter's), release and
expiry. A hold takes funds out of the available balance until it resolves, exactly once.

These are the hot verbs: run by the ledger store of the database (billing/stores.py), on SQLite
in one hand-off, on PostgreSQL as one statement each (docs/DESIGN-NOTES.md, Performance).
`Ledger` (billing/ledger.py) inherits them; the rules in its docstring hold here too.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncConnection

from smarthub_mcp.billing import queries as q
from smarthub_mcp.billing.alerts import LowBalanceAlerts
from smarthub_mcp.billing.ledger_rows import require_positive
from smarthub_mcp.billing.records import Entry, Hold, Record
from smarthub_mcp.billing.stores import LedgerStore
from smarthub_mcp.db import Database, cached_text
from smarthub_mcp.errors import InvalidRequest
from smarthub_mcp.ids import new_id, now_ms


class LedgerHolds:
    """Mixed into `Ledger`, which sets `db`, `store` and `alerts`."""

    db: Database
    store: LedgerStore
    alerts: LowBalanceAlerts

    async def reserve(
        self,
        user_id: str,
        amount: int,
        *,
        ttl_seconds: float,
        idempotency_key: str,
        reference: str | None = None,
        model: str | None = None,
        request_id: str | None = None,
        conn: AsyncConnection | None = None,
    ) -> Hold:
        """Hold `amount` out of the available balance until captured, released or expired (after
        `ttl_seconds`, unless extended). `reference` (the tool), `model` and `request_id` travel
        with the hold so whoever settles it later can record the call."""
        require_positive(amount)
        now = now_ms()
        hold = Hold(new_id("hold"), user_id, amount, "open", idempotency_key, reference,
                    now + int(ttl_seconds * 1000), None, None, now, model, request_id)
        return await self.store.reserve(hold, conn)

    async def capture(
        self, hold_id: str, actual: int, *, memo: str | None = None, conn: AsyncConnection | None = None
    ) -> Entry | None:
        """Charge `actual` (at most the held amount; the rest returns) and close the hold.

        Returns the usage entry, or None when nothing was charged. Capturing a captured hold again
        returns the first result; capturing a released or expired hold is a LedgerError
        (HoldExpired for an expired one).
        """
        if actual < 0:
            raise InvalidRequest("a captured amount cannot be negative")
        captured = await self.store.capture(hold_id, actual, memo, self.alerts.due, conn=conn)
        self.alerts.send(captured.alert)
        return captured.entry

    async def capture_recorded(
        self, hold_id: str, actual: int, *, memo: str | None, record: Record
    ) -> tuple[int, int | None]:
        """`capture`, plus one more row written atomically with it, and only if this call closes the
        hold: the meter's usage row, `record.values` with the amount charged in
        `record.charged_column`. Returns `(charged, balance_after)`; balance_after is None when the
        hold was already captured (nothing is written then).

        Like the other hot verbs: on SQLite one hand-off to the worker thread, on PostgreSQL one
        statement in autocommit (the row is one more data-modifying CTE of the capture)."""
        if actual < 0:
            raise InvalidRequest("a captured amount cannot be negative")
        entry, alert, settled = await self.store.capture(hold_id, actual, memo, self.alerts.due, record)
        self.alerts.send(alert)
        if settled is not None:
            return settled
        return (-entry.amount if entry else 0), None

    async def release(self, hold_id: str, *, conn: AsyncConnection | None = None) -> bool:
        """Return a hold's amount to the available balance. False when it was already resolved."""
        return await self.store.resolve(hold_id, "released", conn)

    async def expire(self, hold_id: str, *, conn: AsyncConnection | None = None) -> bool:
        """Expire one open hold (the sweeper's verb). False when it was already resolved."""
        return await self.store.resolve(hold_id, "expired", conn)

    async def extend(self, hold_id: str, expires_at_ms: int) -> bool:
        """Push an open hold's expiry out to `expires_at_ms` (never in). False when the hold is no
        longer open: a running call keeps its hold alive this way."""
        async with self.db.write() as conn:
            row = (await conn.execute(cached_text(q.EXTEND_HOLD), {"h": hold_id, "e": expires_at_ms})).first()
        return row is not None

    async def due_holds(self, now_ms_: int, limit: int) -> list[str]:
        """Ids of open holds past their own expiry, oldest first."""
        return [r[0] for r in await self.db.fetch(q.DUE_HOLDS, {"now": now_ms_, "n": limit})]

    async def expire_holds(self, now_ms_: int | None = None, *, batch: int = 200) -> int:
        """The sweeper's step: expire open holds past their TTL. Safe on many replicas at once."""
        now = now_ms() if now_ms_ is None else now_ms_
        expired = 0
        while True:
            ids = [r[0] for r in await self.db.fetch(q.DUE_HOLDS, {"now": now, "n": batch})]
            # Each expiry is a transaction of its own (one statement on PostgreSQL). One transaction
            # for the batch would keep an account locked while it goes on to the next hold, whose
            # late capture (hold locked, waiting for that account) then deadlocks with it.
            for hold_id in ids:
                expired += await self.store.resolve(hold_id, "expired")
            if len(ids) < batch:
                return expired
