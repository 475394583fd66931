"""The store: one async SQLAlchemy engine over SQLite (aiosqlite) or PostgreSQL (asyncpg).

Queries are SQL text with named parameters, portable across both databases. Two ways in:
`read()` for plain reads and `write()` for a transaction that changes data. On SQLite a write
begins IMMEDIATE (it takes the write lock up front, so two writers never deadlock on lock
upgrade) and writers in this process queue on an asyncio lock instead of spinning on the
busy handler; other processes (the CLI) wait through `busy_timeout`. PostgreSQL runs at
READ COMMITTED and relies on conditional updates and row locks.

Two narrow fast paths serve the ledger's hot verbs (billing/store_sqlite.py, billing/store_pg.py): `sqlite_call` runs a
whole verb in the aiosqlite worker thread in one hand-off, and `asyncpg_autocommit` lends a bare
asyncpg connection (from `pgpool.HotPool`, not the engine) for a verb that is one statement (a
transaction by itself); `fetch` uses the same pool for PostgreSQL's point reads.
"""

from __future__ import annotations

import asyncio
import collections
import functools
import sqlite3
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from typing import Any, Literal, TypeVar

from sqlalchemy import event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.sql.elements import TextClause

from smarthub_mcp.dbfaults import refused, unavailable
from smarthub_mcp.errors import ConfigError, DatabaseBusy
from smarthub_mcp.pgpool import HotPool
from smarthub_mcp.walcheckpoint import BackgroundCheckpoint

Dialect = Literal["sqlite", "postgresql"]
T = TypeVar("T")

SQLITE_BUSY_TIMEOUT_MS = 10_000
SQLITE_READER_BUSY_MS = 20  # the in-loop reader gives up fast and falls back to the worker thread
SQLITE_PAGE_SIZE = 2048
"""Pages for a new SQLite database (an existing one keeps its own). A paid call dirties about twenty
pages (the account, the hold, its entry and usage row, and their indexes) and every dirty page goes
whole into the WAL, so smaller pages write less: the reserve+capture pair measured 175-197 us of CPU
with 4 KiB pages, 146-153 us with 2 KiB and 133-137 us with 1 KiB. Full scans pay the other way
(the ledger's drift check over 6,500 calls: 8.8, 13.4 and 29.9 ms), so 2 KiB."""
PG_POOL_RECYCLE_S = 1800


def normalize_url(url: str) -> str:
    """Accept the URLs people write and return the async-driver form SQLAlchemy needs."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise ConfigError(f"SMARTHUB_DATABASE_URL is not a database URL: {url.split('@')[-1]!r}") from None
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        return str(parsed.set(drivername="sqlite+aiosqlite"))
    if backend in ("postgresql", "postgres"):
        return parsed.set(drivername="postgresql+asyncpg").render_as_string(hide_password=False)
    raise ConfigError(
        f"SMARTHUB_DATABASE_URL: unsupported database {backend!r}; use sqlite:/// or postgresql://"
    )


def _install_sqlite_hooks(engine: AsyncEngine) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Take transaction control from the driver so BEGIN is ours to choose.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")  # first: the next pragma may wait
        cur.execute(f"PRAGMA page_size={SQLITE_PAGE_SIZE}")  # before WAL: takes effect on a new file only
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA synchronous=NORMAL")  # durable across process crashes in WAL mode
        cur.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        mode = conn.get_execution_options().get("sqlite_begin", "DEFERRED")
        conn.exec_driver_sql(f"BEGIN {mode}")


@functools.cache
def cached_text(statement: str) -> TextClause:
    """One `text()` per SQL string, built once: parsing its parameters is not free, and SQLAlchemy's
    compiled cache then hits every time."""
    return text(statement)


@functools.cache
def _record_type(names: tuple[str, ...]) -> type:
    return collections.namedtuple("Record", names, rename=True)


def _fetch_in_worker(sql: str, params: Mapping[str, Any]) -> Callable[[sqlite3.Connection], list[Any]]:
    def run(dbapi: sqlite3.Connection) -> list[Any]:
        cursor = dbapi.execute(sql, dict(params))
        try:
            rows = cursor.fetchall()
            record = _record_type(tuple(d[0] for d in cursor.description or ()))
        finally:
            cursor.close()
        return [record(*row) for row in rows]

    return run


async def _in_worker(conn: AsyncConnection, fn: Callable[[sqlite3.Connection], T]) -> T:
    # aiosqlite has no public "run this callable in your thread"; `_execute` is what each of its
    # own methods uses. Every ledger test on SQLite goes through here, so a change there fails loudly.
    driver: Any = (await conn.get_raw_connection()).driver_connection
    return await driver._execute(_transaction, driver._conn, fn)


def _transaction(dbapi: sqlite3.Connection, fn: Callable[[sqlite3.Connection], T]) -> T:
    """In the worker thread: `fn` inside the open transaction, or inside one of its own."""
    own = not dbapi.in_transaction
    try:
        if own:
            dbapi.execute("BEGIN IMMEDIATE")
        result = fn(dbapi)
        if own:
            dbapi.execute("COMMIT")
        return result
    except sqlite3.Error as exc:
        if own and dbapi.in_transaction:
            dbapi.execute("ROLLBACK")
        raise DBAPIError.instance(None, None, exc, sqlite3.Error) from exc
    except BaseException:
        if own and dbapi.in_transaction:
            dbapi.execute("ROLLBACK")
        raise


class Database:
    """The engine plus the two ways into it."""

    def __init__(
        self,
        url: str,
        *,
        pool_size: int = 16,
        pool_timeout: float = 5.0,
        idle_seconds: float = 60.0,
        echo: bool = False,
    ) -> None:
        """`pool_size` connections per pool, two pools on PostgreSQL (transactions through the engine,
        and the hot path's): at most 2 x pool_size connections. A request that finds none free within
        `pool_timeout` seconds gets DatabaseBusy (503, Retry-After)."""
        parsed = make_url(normalize_url(url))
        # `?search_path=NAME` (PostgreSQL) runs everything in one schema: tests give each test
        # its own, and operators can share a database between deployments.
        search_path = parsed.query.get("search_path")
        parsed = parsed.difference_update_query(["search_path"])
        self.url = parsed.render_as_string(hide_password=False)
        self.schema = search_path if isinstance(search_path, str) else None
        self.dialect: Dialect = "sqlite" if parsed.get_backend_name() == "sqlite" else "postgresql"
        # No reset-on-return: every way in (`read()`, `write()`, a bare `engine.connect()`) goes
        # through a SQLAlchemy Connection, whose close() rolls back any transaction it still has.
        # A reset would only add a ROLLBACK (a thread hop, or a round trip) to some checkins.
        if self.dialect == "sqlite":
            self.engine = create_async_engine(
                self.url, echo=echo, pool_size=pool_size, max_overflow=0, pool_reset_on_return=None
            )
            _install_sqlite_hooks(self.engine)
        else:
            connect_args = {"server_settings": {"search_path": self.schema}} if self.schema else {}
            # No pre-ping: on asyncpg it costs BEGIN + ";" + ROLLBACK (three round trips) per
            # checkout. Connections are recycled after PG_POOL_RECYCLE_S instead, and one killed
            # by a server restart fails its statement once, is invalidated, and is replaced.
            self.engine = create_async_engine(
                self.url,
                echo=echo,
                pool_size=pool_size,
                max_overflow=0,  # the setting is the bound: an operator sizes replicas x connections
                pool_timeout=pool_timeout,
                pool_recycle=PG_POOL_RECYCLE_S,
                pool_reset_on_return=None,
                connect_args=connect_args,
            )
        self._write_lock = asyncio.Lock() if self.dialect == "sqlite" else None
        self._hot: HotPool | None = None
        if self.dialect == "postgresql":
            self._hot = HotPool(self.url, schema=self.schema, max_size=pool_size, idle_s=idle_seconds,
                                acquire_timeout=pool_timeout)
        self._reader: sqlite3.Connection | None = None
        self._writer: sqlite3.Connection | None = None
        self._checkpoints: BackgroundCheckpoint | None = None

    @property
    def is_sqlite(self) -> bool:
        return self.dialect == "sqlite"

    def pool_stats(self) -> dict[str, tuple[int, int, int]]:
        """Per pool ("engine", and "hot" on PostgreSQL): (most it may open, open now, in use now)."""
        pool: Any = self.engine.sync_engine.pool
        in_use = pool.checkedout()
        stats = {"engine": (pool.size(), in_use + pool.checkedin(), in_use)}
        if self._hot is not None:
            stats["hot"] = self._hot.stats()
        return stats

    @asynccontextmanager
    async def _connect(self) -> AsyncIterator[AsyncConnection]:
        """An engine connection; DatabaseBusy when the pool stays dry past its timeout,
        DatabaseUnavailable when the database refuses a new connection."""
        try:
            conn = await self.engine.connect()
        except PoolTimeout:
            raise DatabaseBusy() from None
        except Exception as exc:
            if refused(exc):
                raise unavailable(exc) from None
            raise
        try:
            yield conn
        finally:
            await conn.close()

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncConnection]:
        """A connection in a short read transaction."""
        async with self._connect() as conn, conn.begin():
            yield conn

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncConnection]:
        """One write transaction: committed when the block ends, rolled back on any exception."""
        if self._write_lock is None:
            async with self._connect() as conn, conn.begin():
                yield conn
            return
        async with self._write_lock, self._connect() as conn:
            conn = await conn.execution_options(sqlite_begin="IMMEDIATE")
            async with conn.begin():
                yield conn

    @asynccontextmanager
    async def asyncpg_autocommit(self) -> AsyncIterator[Any]:
        """A pooled PostgreSQL connection as the bare asyncpg connection, outside any transaction:
        each statement commits by itself, with no BEGIN/COMMIT round trips and no SQLAlchemy layer
        per statement. Only for writes that are whole in one statement (billing/store_pg.py)."""
        if self._hot is None:
            raise RuntimeError("asyncpg_autocommit is for PostgreSQL")
        async with self._hot.connection() as driver:
            yield driver

    async def sqlite_call(self, fn: Callable[[sqlite3.Connection], T], conn: AsyncConnection | None = None) -> T:
        """Run `fn(sqlite3_connection)` in the aiosqlite worker thread in one hand-off (SQLite only).

        aiosqlite hands every driver call to the connection's thread (a statement costs about four
        hand-offs: cursor, execute, fetch, close); a ledger verb run this way costs one. With `conn`
        (the caller's transaction, from `write()`) `fn` runs on that same connection, inside that
        transaction. Without it, `fn` gets a write transaction of its own: the write lock, then
        BEGIN IMMEDIATE, `fn`, COMMIT (ROLLBACK on any exception), all in the one hand-off. If the
        awaiting task is cancelled, the thread still finishes `fn` and its COMMIT or ROLLBACK before
        the connection runs anything else (aiosqlite runs its queue in order), so the connection
        never goes back to the pool mid-transaction. Errors come back as SQLAlchemy's exceptions.
        """
        if self._write_lock is None:
            raise RuntimeError("sqlite_call is for SQLite databases")
        if conn is not None:
            return await _in_worker(conn, fn)
        async with self._write_lock:
            done, result = self._write_in_loop(fn)
            if done:
                return result  # type: ignore[return-value]  # done means fn ran and returned a T
            async with self.engine.connect() as own:
                return await _in_worker(own, fn)

    def _write_in_loop(self, fn: Callable[[sqlite3.Connection], T]) -> tuple[bool, T | None]:
        """A hot verb's whole transaction on the event loop's thread, through a connection of its own.

        A verb is two or three statements on indexed rows (tens of microseconds); handing it to
        aiosqlite's thread costs more than running it. The caller holds the write lock, so no writer
        of this process is in the way; if another process holds the database's write lock (the
        CLI), BEGIN gives up after a short busy timeout and `(False, None)` sends the verb to the
        worker thread, which waits as long as it must. Being synchronous, the verb cannot be
        cancelled halfway: it commits or rolls back before anything else runs. The WAL checkpoints
        its commits call for run mostly in a worker thread (`walcheckpoint`): run inline, their
        fsyncs stalled the whole process for milliseconds."""
        writer = self._loop_writer()
        if writer is None:
            return False, None
        try:
            writer.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError:
            return False, None
        try:
            result = fn(writer)
            writer.execute("COMMIT")
        except sqlite3.Error as exc:
            if writer.in_transaction:
                writer.execute("ROLLBACK")
            raise DBAPIError.instance(None, None, exc, sqlite3.Error) from exc
        except BaseException:
            if writer.in_transaction:
                writer.execute("ROLLBACK")
            raise
        if self._checkpoints is not None:  # after the try: nothing here may fail a committed verb
            self._checkpoints.committed(writer)
        return True, result

    def _loop_writer(self) -> sqlite3.Connection | None:
        if self._writer is None:
            path = make_url(self.url).database
            if not path or path == ":memory:":
                return None
            writer = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
            try:
                writer.execute(f"PRAGMA busy_timeout={SQLITE_READER_BUSY_MS}")
                writer.execute("PRAGMA journal_mode=WAL")
                writer.execute("PRAGMA foreign_keys=ON")
                writer.execute("PRAGMA synchronous=NORMAL")
                writer.execute("PRAGMA wal_autocheckpoint=0")  # checkpoints run off the loop, see below
            except sqlite3.OperationalError:  # busy right now: the worker path, and try again later
                writer.close()
                return None
            self._writer = writer
            self._checkpoints = BackgroundCheckpoint(path)
        return self._writer

    async def fetch(self, sql: str, params: Mapping[str, Any] | None = None) -> list[Any]:
        """Rows of one read-only statement, outside any transaction: for hot single-statement reads
        (a token check, a balance). Rows allow attribute and index access on both databases.

        A single statement sees one consistent snapshot by itself, so no BEGIN/COMMIT is needed: on
        SQLite it runs on the event loop's thread through a read-only connection (or, when that is
        busy, in the aiosqlite worker in one hand-off), on PostgreSQL in autocommit (one round trip
        instead of three). Keep it for point lookups by a unique key: on SQLite it runs inline."""
        params = params or {}
        if self.is_sqlite:
            rows = self._read_in_loop(sql, params)
            if rows is not None:
                return rows
            async with self.engine.connect() as conn:
                driver: Any = (await conn.get_raw_connection()).driver_connection
                try:
                    return await driver._execute(_fetch_in_worker(sql, params), driver._conn)
                except sqlite3.Error as exc:
                    raise DBAPIError.instance(sql, None, exc, sqlite3.Error) from exc
        assert self._hot is not None
        records = await self._hot.fetch(sql, params)
        if not records:
            return []
        record = _record_type(tuple(records[0].keys()))
        return [record(*r.values()) for r in records]

    def _read_in_loop(self, sql: str, params: Mapping[str, Any]) -> list[Any] | None:
        """SQLite point reads on the event loop's own thread, through a read-only connection.

        Handing a statement to aiosqlite's thread costs far more than a point lookup by key itself
        (tens of microseconds in WAL mode, where readers never wait for the writer). Only `fetch`
        comes here, which the code keeps for single-row lookups by unique key. If the database is
        momentarily busy (a checkpoint, WAL recovery), the short busy timeout gives up and the
        caller takes the worker-thread path instead; None means "use that path"."""
        if self._reader is None:
            path = make_url(self.url).database
            if not path or path == ":memory:":
                return None
            self._reader = sqlite3.connect(
                f"file:{path}?mode=ro", uri=True, isolation_level=None, check_same_thread=False
            )
            self._reader.execute(f"PRAGMA busy_timeout={SQLITE_READER_BUSY_MS}")
        try:
            return _fetch_in_worker(sql, params)(self._reader)
        except sqlite3.OperationalError:
            return None

    async def fetch_one(self, sql: str, params: Mapping[str, Any] | None = None) -> Any | None:
        rows = await self.fetch(sql, params)
        return rows[0] if rows else None

    async def ping(self) -> None:
        async with self.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    async def close(self) -> None:
        if self._checkpoints is not None:
            await self._checkpoints.close()
            self._checkpoints = None
        for inline in (self._reader, self._writer):
            if inline is not None:
                inline.close()
        self._reader = self._writer = None
        if self._hot is not None:
            await self._hot.close()
        await self.engine.dispose()
