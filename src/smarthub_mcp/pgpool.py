"""PostgreSQL's hot statements on a bare asyncpg pool, beside SQLAlchemy's engine.

The token check, a balance read and each ledger verb are one statement, sent in autocommit. Through
SQLAlchemy each also paid for a pool checkout and check-in, a greenlet switch per call and the
result proxy: about 0.3 ms of CPU per statement on the benchmark machine, more than asyncpg's own
work. Here a statement is `pool.acquire()` and one `fetchrow`/`fetch`, prepared once per connection
by asyncpg's statement cache. Everything that needs a transaction keeps using the engine.
"""

from __future__ import annotations

import asyncio
import functools
import re
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, IntegrityError

from smarthub_mcp.dbfaults import refused, unavailable
from smarthub_mcp.errors import DatabaseBusy


@functools.cache
def dollar_params(statement: str) -> tuple[str, tuple[str, ...]]:
    """`:name` parameters to asyncpg's `$n`, once per SQL string (our SQL casts with CAST, not ::)."""
    names: list[str] = []

    def number(match: re.Match[str]) -> str:
        if match[1] not in names:
            names.append(match[1])
        return f"${names.index(match[1]) + 1}"

    return re.sub(r"(?<![:\w]):(\w+)", number, statement), tuple(names)


def as_sqlalchemy_error(statement: str, params: Mapping[str, Any], exc: asyncpg.PostgresError) -> DBAPIError:
    """The error SQLAlchemy would have raised, so callers handle one family on both paths."""
    if isinstance(exc, asyncpg.IntegrityConstraintViolationError):
        return IntegrityError(statement, dict(params), exc)
    return DBAPIError(statement, dict(params), exc)


async def _keep_session(conn: asyncpg.Connection) -> None:
    """Nothing to reset on release: these connections only ever run single autocommit statements
    (no SET, LISTEN, advisory lock or open transaction). asyncpg's default reset is one more round
    trip ("RESET ALL; UNLISTEN *; ...") on every release, i.e. on every hot statement."""


class HotPool:
    """A lazily opened asyncpg pool on the engine's URL and schema."""

    def __init__(
        self, sqlalchemy_url: str, *, schema: str | None, max_size: int, idle_s: float, acquire_timeout: float
    ) -> None:
        self._dsn = make_url(sqlalchemy_url).set(drivername="postgresql").render_as_string(hide_password=False)
        self._settings = {"search_path": schema} if schema else None
        self._max_size = max_size
        self._idle_s = idle_s
        self._acquire_timeout = acquire_timeout
        self._pool: asyncpg.Pool | None = None
        self._opening = asyncio.Lock()

    async def _get(self) -> asyncpg.Pool:
        if self._pool is None:
            async with self._opening:
                if self._pool is None:
                    self._pool = await asyncpg.create_pool(
                        self._dsn,
                        min_size=0,  # no floor to maintain: a pool that outlives its database stays quiet
                        max_size=self._max_size,
                        max_inactive_connection_lifetime=self._idle_s,  # idle ones go back promptly
                        server_settings=self._settings,
                        reset=_keep_session,
                    )
        return self._pool

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[asyncpg.Connection]:
        """A pooled connection outside any transaction: each statement commits by itself.
        DatabaseBusy when none comes free within the acquire timeout; DatabaseUnavailable when
        the database refuses a new one."""
        pool = await self._get()
        try:
            if pool.get_idle_size() or pool.get_size() < self._max_size:
                # A connection is free (or may be opened): no timeout, which would cost a wait_for
                # task on every hot statement.
                conn = await pool.acquire()
            else:
                try:
                    conn = await pool.acquire(timeout=self._acquire_timeout)
                except TimeoutError:
                    raise DatabaseBusy() from None
        except Exception as exc:
            if refused(exc):
                raise unavailable(exc) from None
            raise
        try:
            yield conn
        finally:
            await pool.release(conn)

    def stats(self) -> tuple[int, int, int]:
        """(most it may open, open now, in use now), for the metrics."""
        pool = self._pool
        if pool is None:
            return self._max_size, 0, 0
        return self._max_size, pool.get_size(), pool.get_size() - pool.get_idle_size()

    async def fetch(self, sql: str, params: Mapping[str, Any]) -> list[asyncpg.Record]:
        """asyncpg's records (`Database.fetch` gives them the same shape as SQLite's rows)."""
        dollar, names = dollar_params(sql)
        async with self.connection() as conn:
            try:
                return await conn.fetch(dollar, *(params[n] for n in names))
            except asyncpg.PostgresError as exc:
                raise as_sqlalchemy_error(sql, params, exc) from exc

    async def close(self) -> None:
        if self._pool is not None:
            pool, self._pool = self._pool, None
            await pool.close()
