"""The ledger's hot verbs on SQLite: plain synchronous code on the raw sqlite3 connection.

Each verb runs whole in one hand-off (`Database.sqlite_call`): on the event loop's thread when no
other process holds the write lock, else in aiosqlite's worker thread; in the caller's transaction
`conn`, or in one of its own (BEGIN IMMEDIATE ... COMMIT, ROLLBACK when a verb raises). A verb is
two to four statements on indexed rows; handing each statement to the worker thread would cost
more than running it. Code here must not touch the event loop (it may run in a worker thread): a
low-balance alert is returned and sent by the caller.
"""

from __future__ import annotations

import functools
import sqlite3
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from smarthub_mcp.billing import queries as q
from smarthub_mcp.billing.ledger_rows import (
    AlertDue,
    Captured,
    entry_params,
    hold_params,
    insufficient,
    resolved_hold,
    same_hold,
    usage_entry,
)
from smarthub_mcp.billing.records import Entry, Hold, Record
from smarthub_mcp.db import Database
from smarthub_mcp.errors import NotFound
from smarthub_mcp.ids import new_id, now_ms


class SqliteLedgerStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def reserve(self, hold: Hold, conn: AsyncConnection | None = None) -> Hold:
        return await self.db.sqlite_call(functools.partial(_reserve, hold), conn)

    async def resolve(self, hold_id: str, status: str, conn: AsyncConnection | None = None) -> bool:
        return await self.db.sqlite_call(functools.partial(_resolve, hold_id, status), conn)

    async def capture(
        self, hold_id: str, actual: int, memo: str | None, due: AlertDue, record: Record | None = None,
        conn: AsyncConnection | None = None,
    ) -> Captured:
        return await self.db.sqlite_call(functools.partial(_capture, hold_id, actual, memo, due, record), conn)


def _row(c: sqlite3.Connection, sql: str, params: dict[str, Any]) -> Any:
    # fetchall steps the statement to its end, so an UPDATE ... RETURNING is complete.
    rows = c.execute(sql, params).fetchall()
    return rows[0] if rows else None


def _reserve(hold: Hold, c: sqlite3.Connection) -> Hold:
    """The conditional hold on the account, then the hold row under its UNIQUE key. A repeat of
    the key returns the first hold and moves nothing."""
    funds = {"u": hold.account_id, "a": hold.amount, "now": hold.created_at}
    funded = _row(c, q.HOLD_FUNDS, funds) is not None
    if funded and _row(c, q.INSERT_HOLD, hold_params(hold)) is not None:
        return hold
    if funded:  # the key is taken (a repeat): give the funds back
        _row(c, q.UNHOLD_FUNDS, funds)
    existing = _row(c, q.HOLD_BY["idempotency_key"], {"v": hold.idempotency_key})
    if existing is not None:
        return same_hold(existing, hold)
    raise insufficient(hold.account_id, hold.amount, _row(c, q.ACCOUNT, {"u": hold.account_id}))


def _resolve(hold_id: str, status: str, c: sqlite3.Connection) -> bool:
    """Release or expire an open hold (compare-and-set on its status) and unhold its funds."""
    now = now_ms()
    row = _row(c, q.RESOLVE_HOLD, {"h": hold_id, "s": status, "now": now})
    if row is not None:
        _row(c, q.UNHOLD_FUNDS, {"u": row[0], "a": row[1], "now": now})
        return True
    if _row(c, q.HOLD_BY["id"], {"v": hold_id}) is None:
        raise NotFound("no such hold", details={"hold_id": hold_id})
    return False


def _capture(
    hold_id: str, actual: int, memo: str | None, due: AlertDue, record: Record | None, c: sqlite3.Connection
) -> Captured:
    """Close the hold (compare-and-set), settle the account, write `record`'s row and append the
    usage entry: three to five statements."""
    now = now_ms()
    row = _row(c, q.CAPTURE_HOLD, {"h": hold_id, "a": actual, "now": now})
    if row is None:
        resolved_hold(_row(c, q.HOLD_BY["id"], {"v": hold_id}), hold_id)
        first = _row(c, q.ENTRY_BY["hold_id"], {"v": hold_id})
        return Captured(Entry(*first) if first is not None else None, None, None)
    account_id, amount, charged, _reference = row
    acct = _row(c, q.SETTLE_HOLD, {"u": account_id, "c": charged, "h": amount, "now": now})
    if record is not None:
        c.execute(q.record_insert(record.table, tuple(record.values), record.charged_column),
                  {**q.record_params(record.values), "r_charged": charged})
    alert = due(account_id, acct)
    if alert is not None and _row(c, q.MARK_ALERTED, {"u": account_id}) is None:
        alert = None  # a concurrent debit marked the crossing first and sends the alert
    entry = usage_entry(hold_id, actual, row, acct[0], entry_id=new_id("ent"), memo=memo, now=now)
    if entry is not None:
        c.execute(q.INSERT_ENTRY, entry_params(entry))
    return Captured(entry, alert, (charged, acct[0]))
