"""The ledger's read side: balances, entries, holds, history and the drift check. Reads never
change a balance; `Ledger` (billing/ledger.py) adds the money verbs on top of these."""

from __future__ import annotations

import contextlib
import logging

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from smarthub_mcp.billing import queries as q
from smarthub_mcp.billing.records import Balance, Drift, Entry, Hold
from smarthub_mcp.db import Database, cached_text
from smarthub_mcp.errors import NotFound
from smarthub_mcp.pages import page, row_id

log = logging.getLogger("smarthub.ledger")


class LedgerReads:
    db: Database

    async def _entry_by(self, conn: AsyncConnection, column: str, value: str) -> Entry | None:
        row = (await conn.execute(cached_text(q.ENTRY_BY[column]), {"v": value})).first()
        return Entry(*row) if row is not None else None

    async def _hold(self, conn: AsyncConnection, column: str, value: str) -> Hold | None:
        row = (await conn.execute(cached_text(q.HOLD_BY[column]), {"v": value})).first()
        return Hold(*row) if row is not None else None

    async def balance(self, user_id: str, *, conn: AsyncConnection | None = None) -> Balance:
        if conn is None:
            row = await self.db.fetch_one(q.ACCOUNT, {"u": user_id})
        else:
            row = (await conn.execute(cached_text(q.ACCOUNT), {"u": user_id})).first()
        if row is None:
            raise NotFound("this user has no credit account", details={"user_id": user_id})
        balance, held, overdraft = row
        return Balance(balance=balance, held=held, available=balance - held, overdraft_limit=overdraft)

    async def find_entry(self, idempotency_key: str, *, conn: AsyncConnection | None = None) -> Entry | None:
        async with contextlib.AsyncExitStack() as stack:
            c = conn if conn is not None else await stack.enter_async_context(self.db.read())
            return await self._entry_by(c, "idempotency_key", idempotency_key)

    async def hold(self, hold_id: str, *, conn: AsyncConnection | None = None) -> Hold | None:
        """The hold, read inside `conn` when given (a transaction about to resolve it)."""
        if conn is not None:
            return await self._hold(conn, "id", hold_id)
        async with self.db.read() as c:
            return await self._hold(c, "id", hold_id)

    async def open_holds(self) -> tuple[int, int | None]:
        """How many holds are open, and when the oldest was taken (epoch ms; None when none is)."""
        row = await self.db.fetch_one(q.OPEN_HOLDS, {})
        return (int(row[0]), row[1]) if row is not None else (0, None)

    async def hold_by_key(self, idempotency_key: str) -> Hold | None:
        """The hold reserved under `idempotency_key` (a point read by a unique key)."""
        row = await self.db.fetch_one(q.HOLD_BY["idempotency_key"], {"v": idempotency_key})
        return Hold(*row) if row is not None else None

    async def history(
        self,
        user_id: str,
        *,
        kinds: list[str] | None = None,
        since_ms: int | None = None,
        until_ms: int | None = None,
        cursor: str | None = None,
        limit: int = 50,
    ) -> tuple[list[Entry], str | None]:
        """Newest first; pass the returned cursor to get the next page (None: no more)."""
        sql, params = q.history_query(user_id, kinds, since_ms, until_ms, cursor, limit + 1)
        async with self.db.read() as c:
            entries = [Entry(*r) for r in await c.execute(text(sql), params)]
        return page(entries, limit, row_id)

    async def check(self) -> list[Drift]:
        """Recompute every balance and held amount from entries and holds; return what disagrees."""
        async with self.db.read() as c:
            rows = await c.execute(cached_text(q.CHECK))
            drift = [Drift(*r) for r in rows if r[1] != r[2] or r[3] != r[4]]
        for d in drift:
            log.error("ledger drift: %s", d)
        return drift
