"""The seam between the ledger and its database: one store per database, chosen once.

A store runs the ledger's hot verbs (reserve, resolve, capture) as plain code of its own:
billing/store_sqlite.py (synchronous, on the raw sqlite3 connection, in one hand-off) and
billing/store_pg.py (one statement per verb, in autocommit on the asyncpg hot pool when the verb is
not part of a caller's transaction). What both decide alike is in billing/ledger_rows.py.
"""

from __future__ import annotations

from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncConnection

from smarthub_mcp.billing.ledger_rows import AlertDue, Captured
from smarthub_mcp.billing.records import Hold, Record
from smarthub_mcp.billing.store_pg import PostgresLedgerStore
from smarthub_mcp.billing.store_sqlite import SqliteLedgerStore
from smarthub_mcp.db import Database

__all__ = ["LedgerStore", "PostgresLedgerStore", "SqliteLedgerStore", "ledger_store"]


class LedgerStore(Protocol):
    """Every verb runs in `conn`'s transaction when given, else in one of its own."""

    async def reserve(self, hold: Hold, conn: AsyncConnection | None = None) -> Hold:
        """Hold `hold.amount` out of the available balance and insert the hold; a repeat of its
        idempotency key returns the first hold and moves nothing."""

    async def resolve(self, hold_id: str, status: str, conn: AsyncConnection | None = None) -> bool:
        """Release or expire (`status`) an open hold; False when it was already resolved."""

    async def capture(
        self, hold_id: str, actual: int, memo: str | None, due: AlertDue, record: Record | None = None,
        conn: AsyncConnection | None = None,
    ) -> Captured:
        """Charge at most the held amount, close the hold, append the usage entry (and `record`'s
        row, only when this call closes the hold); a repeat returns the first entry."""


def ledger_store(db: Database) -> LedgerStore:
    """The store for `db`'s database (the composition root calls this once)."""
    return SqliteLedgerStore(db) if db.is_sqlite else PostgresLedgerStore(db)
