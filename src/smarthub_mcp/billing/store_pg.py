"""The ledger's hot verbs on PostgreSQL: each moves its money in ONE statement (queries.py's
data-modifying CTEs), run one of two ways:

- In the caller's transaction (`conn`, a SQLAlchemy connection from `Database.write()`): the
  statement and the reads that follow it, awaited one by one.
- On its own: in autocommit on a bare asyncpg connection of the hot pool (`asyncpg_autocommit`):
  one round trip, no BEGIN/COMMIT. Sound only because the money moves in one statement, which is a
  transaction by itself; what follows it may only read, or flip the low-balance flag (a
  compare-and-set that moves no money).

At READ COMMITTED an UPDATE that meets a row changed since its snapshot waits for the writer and
re-checks its WHERE on the newest version, so the conditional hold stays exact under races.
"""

from __future__ import annotations

from typing import Any, Protocol

import asyncpg
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from smarthub_mcp.billing import queries as q
from smarthub_mcp.billing.ledger_rows import (
    AlertDue,
    Captured,
    hold_params,
    insufficient,
    resolved_hold,
    same_hold,
    usage_entry,
)
from smarthub_mcp.billing.records import Entry, Hold, Record
from smarthub_mcp.db import Database, cached_text
from smarthub_mcp.errors import NotFound
from smarthub_mcp.ids import new_id, now_ms
from smarthub_mcp.pgpool import as_sqlalchemy_error, dollar_params


class _Rows(Protocol):
    async def row(self, sql: str, params: dict[str, Any]) -> Any:
        """Run one statement; its first row, or None."""


class _InTransaction:
    """The caller's transaction, through SQLAlchemy (one cached `text()` per SQL string)."""

    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn

    async def row(self, sql: str, params: dict[str, Any]) -> Any:
        result = await self.conn.execute(cached_text(sql), params)
        return result.first() if result.returns_rows else None


class _Autocommit:
    """A bare asyncpg connection in autocommit: each statement prepared once per connection by
    asyncpg's cache; its errors raised as SQLAlchemy's, so the verbs handle one family."""

    def __init__(self, driver: Any) -> None:
        self.driver = driver

    async def row(self, sql: str, params: dict[str, Any]) -> Any:
        dollar, names = dollar_params(sql)
        try:
            return await self.driver.fetchrow(dollar, *(params[n] for n in names))
        except asyncpg.PostgresError as exc:
            raise as_sqlalchemy_error(sql, params, exc) from exc


class PostgresLedgerStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def reserve(self, hold: Hold, conn: AsyncConnection | None = None) -> Hold:
        if conn is not None:
            return await _reserve_in_transaction(_InTransaction(conn), hold)
        async with self.db.asyncpg_autocommit() as driver:
            return await _reserve_alone(_Autocommit(driver), hold)

    async def resolve(self, hold_id: str, status: str, conn: AsyncConnection | None = None) -> bool:
        if conn is not None:
            return await _resolve(_InTransaction(conn), hold_id, status)
        async with self.db.asyncpg_autocommit() as driver:
            return await _resolve(_Autocommit(driver), hold_id, status)

    async def capture(
        self, hold_id: str, actual: int, memo: str | None, due: AlertDue, record: Record | None = None,
        conn: AsyncConnection | None = None,
    ) -> Captured:
        if conn is not None:
            return await _capture(_InTransaction(conn), hold_id, actual, memo, due, record)
        async with self.db.asyncpg_autocommit() as driver:
            return await _capture(_Autocommit(driver), hold_id, actual, memo, due, record)


async def _reserve_alone(rows: _Rows, hold: Hold) -> Hold:
    """RESERVE_PG_SINGLE is a transaction by itself: a taken key fails it whole (UNIQUE), so
    nothing moved and the first hold is the answer."""
    try:
        _funded, inserted = await rows.row(q.RESERVE_PG_SINGLE, hold_params(hold))
    except IntegrityError:  # most likely the key (a repeat)
        existing = await rows.row(q.HOLD_BY["idempotency_key"], {"v": hold.idempotency_key})
        if existing is None:
            raise
        return same_hold(existing, hold)
    if inserted is not None:
        return hold
    return await _repeat_or_insufficient(rows, hold)


async def _reserve_in_transaction(rows: _Rows, hold: Hold) -> Hold:
    """RESERVE_PG must not fail the caller's transaction: on a taken key it funds the hold without
    inserting it, and the funds go back in the same transaction."""
    funded, inserted = await rows.row(q.RESERVE_PG, hold_params(hold))
    if inserted is not None:
        return hold
    if funded:
        await rows.row(q.UNHOLD_FUNDS, {"u": hold.account_id, "a": hold.amount, "now": hold.created_at})
    return await _repeat_or_insufficient(rows, hold)


async def _repeat_or_insufficient(rows: _Rows, hold: Hold) -> Hold:
    existing = await rows.row(q.HOLD_BY["idempotency_key"], {"v": hold.idempotency_key})
    if existing is not None:
        return same_hold(existing, hold)
    raise insufficient(hold.account_id, hold.amount, await rows.row(q.ACCOUNT, {"u": hold.account_id}))


async def _resolve(rows: _Rows, hold_id: str, status: str) -> bool:
    """Release or expire an open hold and unhold its funds, in one statement."""
    if await rows.row(q.RESOLVE_PG, {"h": hold_id, "s": status, "now": now_ms()}) is not None:
        return True
    if await rows.row(q.HOLD_BY["id"], {"v": hold_id}) is None:
        raise NotFound("no such hold", details={"hold_id": hold_id})
    return False


async def _capture(
    rows: _Rows, hold_id: str, actual: int, memo: str | None, due: AlertDue, record: Record | None
) -> Captured:
    """Close the hold, settle the account, append the usage entry (and `record`'s row, only if
    the hold closes): one statement."""
    now, entry_id = now_ms(), new_id("ent")
    sql = q.CAPTURE_PG
    params = {"h": hold_id, "a": actual, "now": now, "id": entry_id, "memo": memo, "key": f"capture:{hold_id}"}
    if record is not None:
        sql = q.capture_pg_recorded(record.table, tuple(record.values), record.charged_column)
        params.update(q.record_params(record.values))
    row = await rows.row(sql, params)
    if row is None:
        resolved_hold(await rows.row(q.HOLD_BY["id"], {"v": hold_id}), hold_id)
        first = await rows.row(q.ENTRY_BY["hold_id"], {"v": hold_id})
        return Captured(Entry(*first) if first is not None else None, None, None)
    account_id, amount, charged, reference, *acct = row
    alert = due(account_id, acct)
    if alert is not None and await rows.row(q.MARK_ALERTED, {"u": account_id}) is None:
        alert = None  # a concurrent debit marked the crossing first and sends the alert
    entry = usage_entry(hold_id, actual, (account_id, amount, charged, reference), acct[0], entry_id=entry_id,
                        memo=memo, now=now)
    return Captured(entry, alert, (charged, acct[0]))
