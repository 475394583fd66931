"""Ledger verbs written once as step generators, and the two ways to run them.

A step generator yields `(sql, params)` and is sent back the statement's first row (None when it
returned no row); its return value is the verb's result. One body therefore runs on both stores:

- SQLite: `run_sync` drives the whole generator inside the aiosqlite worker thread, on the raw
  sqlite3 connection, in one hand-off (`Database.sqlite_call`) instead of about four per statement.
- PostgreSQL in a caller's transaction: `run_async` awaits each statement through SQLAlchemy
  (one `text()` per SQL string, so its compiled cache hits; asyncpg prepares each once).
- PostgreSQL on its own: `run_asyncpg` runs the verb's one money-moving statement in autocommit on
  the bare asyncpg connection: one round trip, no BEGIN/COMMIT (see `PostgresLedgerStore`).

Which of these runs is the ledger store's choice, made once per database (`ledger_store`).

Every verb still runs in one transaction (the caller's when it passes `conn`), so a generator
that raises leaves nothing behind. A generator must not touch the event loop: it may run in a
worker thread. Anything that needs the loop (alerts) is returned and done by the caller.
"""

from __future__ import annotations

import functools
import sqlite3
from collections.abc import Callable, Generator
from typing import Any, Literal, TypeVar

import asyncpg
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from smarthub_mcp.billing import queries as q
from smarthub_mcp.billing.errors import HoldExpired
from smarthub_mcp.billing.money import format_credits
from smarthub_mcp.billing.records import Entry, Hold
from smarthub_mcp.db import Database, cached_text
from smarthub_mcp.errors import IdempotencyConflict, InsufficientCredits, LedgerError, NotFound
from smarthub_mcp.ids import now_ms
from smarthub_mcp.pgpool import as_sqlalchemy_error, dollar_params

T = TypeVar("T")
Steps = Generator[tuple[str, dict[str, Any]], Any, T]
Store = Literal["sqlite", "pg", "pg-single"]


def run_sync(steps: Steps[T], dbapi: sqlite3.Connection) -> T:
    """Drive `steps` on a raw sqlite3 connection (in its worker thread, inside a transaction)."""
    try:
        request = next(steps)
        while True:
            statement, params = request
            # fetchall steps the statement to its end, so an UPDATE ... RETURNING is complete.
            rows = dbapi.execute(statement, params).fetchall()
            request = steps.send(rows[0] if rows else None)
    except StopIteration as stop:
        return stop.value


async def run_async(steps: Steps[T], conn: AsyncConnection) -> T:
    """Drive `steps` through a SQLAlchemy connection, one awaited statement at a time. A database
    error is thrown into the generator at its `yield`, where a "pg-single" step may handle it."""
    try:
        request = next(steps)
        while True:
            statement, params = request
            try:
                result = await conn.execute(cached_text(statement), params)
            except DBAPIError as exc:
                request = steps.throw(exc)
                continue
            request = steps.send(result.first() if result.returns_rows else None)
    except StopIteration as stop:
        return stop.value


async def run_asyncpg(steps: Steps[T], driver: Any) -> T:
    """Drive `steps` on a bare asyncpg connection in autocommit ("pg-single"): one round trip per
    statement, prepared once per connection by asyncpg's statement cache. Database errors are
    thrown into the generator as SQLAlchemy's, like `run_async` does."""
    try:
        request = next(steps)
        while True:
            statement, params = request
            dollar, names = dollar_params(statement)
            try:
                row = await driver.fetchrow(dollar, *(params[n] for n in names))
            except asyncpg.PostgresError as exc:
                request = steps.throw(as_sqlalchemy_error(statement, params, exc))
                continue
            request = steps.send(row)
    except StopIteration as stop:
        return stop.value


class SqliteLedgerStore:
    """The ledger's store on SQLite: a verb runs whole in the aiosqlite worker thread, in one
    hand-off, in `conn`'s transaction or one of its own."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def run(self, conn: AsyncConnection | None, make: Callable[[Store], Steps[T]]) -> T:
        return await self.db.sqlite_call(functools.partial(run_sync, make("sqlite")), conn)


class PostgresLedgerStore:
    """The ledger's store on PostgreSQL.

    - In the caller's transaction `conn` ("pg"): one awaited statement at a time.
    - On its own ("pg-single"): no BEGIN/COMMIT round trips either: the steps run in autocommit on
      the hot asyncpg pool, which is sound only because each such verb writes its money in ONE
      statement (a statement is a transaction by itself). What follows that statement may only
      read, or flip the low-balance flag (a compare-and-set that moves no money).
    """

    def __init__(self, db: Database) -> None:
        self.db = db

    async def run(self, conn: AsyncConnection | None, make: Callable[[Store], Steps[T]]) -> T:
        if conn is not None:
            return await run_async(make("pg"), conn)
        async with self.db.asyncpg_autocommit() as driver:
            return await run_asyncpg(make("pg-single"), driver)


LedgerStore = SqliteLedgerStore | PostgresLedgerStore


def ledger_store(db: Database) -> LedgerStore:
    """The store for `db`'s database, chosen once (by the composition root, or the `Ledger`)."""
    return SqliteLedgerStore(db) if db.is_sqlite else PostgresLedgerStore(db)


# --- the hold verbs' steps (Ledger.reserve, release, capture's repeat path, expiry) ----------


def reserve_steps(hold: Hold, store: Store) -> Steps[Hold]:
    """The conditional hold on the account, then the hold row under its UNIQUE key: two statements
    on SQLite, one on PostgreSQL. A repeat of the key returns the first hold and moves nothing."""
    funds = {"u": hold.account_id, "a": hold.amount, "now": hold.created_at}
    taken: IntegrityError | None = None
    if store == "pg-single":
        try:
            funded, inserted = yield q.RESERVE_PG_SINGLE, _hold_params(hold)
        except IntegrityError as exc:  # most likely the key (a repeat); the statement moved nothing
            taken, funded, inserted = exc, False, None
    elif store == "pg":
        funded, inserted = yield q.RESERVE_PG, _hold_params(hold)
    else:
        funded = (yield q.HOLD_FUNDS, funds) is not None
        inserted = (yield q.INSERT_HOLD, _hold_params(hold)) if funded else None
    if inserted is not None:
        return hold
    if funded:  # the key was taken by a concurrent repeat: give the funds back
        assert store != "pg-single"  # there the taken key failed the statement: nothing was funded
        yield q.UNHOLD_FUNDS, funds
    existing = yield q.HOLD_BY["idempotency_key"], {"v": hold.idempotency_key}
    if existing is not None:
        return _same_hold(Hold(*existing), hold.account_id, hold.amount)
    if taken is not None:
        raise taken
    yield from insufficient_steps(hold.account_id, hold.amount)
    raise AssertionError("unreachable: insufficient_steps raises")


def resolve_steps(hold_id: str, status: str, store: Store) -> Steps[bool]:
    """Release or expire an open hold (compare-and-set on its status) and unhold its funds."""
    now = now_ms()
    if store != "sqlite":
        row = yield q.RESOLVE_PG, {"h": hold_id, "s": status, "now": now}
    else:
        row = yield q.RESOLVE_HOLD, {"h": hold_id, "s": status, "now": now}
        if row is not None:
            yield q.UNHOLD_FUNDS, {"u": row[0], "a": row[1], "now": now}
    if row is None:
        if (yield q.HOLD_BY["id"], {"v": hold_id}) is None:
            raise NotFound("no such hold", details={"hold_id": hold_id})
        return False
    return True


def already_resolved_steps(hold_id: str) -> Steps[Entry | None]:
    row = yield q.HOLD_BY["id"], {"v": hold_id}
    if row is None:
        raise NotFound("no such hold", details={"hold_id": hold_id})
    hold = Hold(*row)
    if hold.status == "captured":
        entry = yield q.ENTRY_BY["hold_id"], {"v": hold_id}
        return Entry(*entry) if entry is not None else None
    error = HoldExpired if hold.status == "expired" else LedgerError
    raise error(f"the hold is already {hold.status}", details={"hold_id": hold_id, "status": hold.status})


def insufficient_steps(user_id: str, required: int) -> Steps[None]:
    acct = yield q.ACCOUNT, {"u": user_id}
    if acct is None:
        raise NotFound("this user has no credit account", details={"user_id": user_id})
    balance, held, overdraft = acct
    available = balance - held + overdraft
    raise InsufficientCredits(
        f"Not enough credits: this needs up to {format_credits(required)} credits and "
        f"{format_credits(max(available, 0))} are available.",
        details={
            "balance": format_credits(balance),
            "available": format_credits(available),
            "required": format_credits(required),
        },
    )


def _same_hold(hold: Hold, user_id: str, amount: int) -> Hold:
    if hold.account_id != user_id or hold.amount != amount:
        raise IdempotencyConflict("this idempotency key was already used for a different hold")
    return hold


def _hold_params(h: Hold) -> dict[str, Any]:
    return {f: getattr(h, f) for f in Hold.__slots__}
