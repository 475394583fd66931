"""What a database failure means to the caller: an outage to answer 503 (retry later), or a
fault to answer 500 (a bug, or the configuration).

- `refused(exc)`: opening a connection failed because the database is down or full. A wrong
  password, a missing database, a certificate file not found or a host name that does not
  resolve are the configuration's, and stay loud.
- `outage_of(exc)`: an error in the middle of a request that is the database going away (a
  connection closed under a statement, as after a database restart; SQLite's disk full). The
  transports answer it as `database_unavailable`; its cause is logged once, here.
"""

from __future__ import annotations

import errno
import logging
import sqlite3
from collections.abc import Iterator

import asyncpg
from sqlalchemy.exc import DBAPIError

from smarthub_mcp.errors import DatabaseUnavailable

log = logging.getLogger("smarthub.db")

_UNREACHABLE = {errno.ECONNREFUSED, errno.ECONNRESET, errno.EHOSTUNREACH, errno.ENETUNREACH, errno.ETIMEDOUT}
_MIDWAY = ("The database went away during this call; retry shortly. Whether it was charged shows in your"
           " balance and history.")


def refused(exc: BaseException) -> bool:
    """Whether opening a connection failed because the database is down or full (a 503 to retry)."""
    if isinstance(exc, (asyncpg.exceptions.TooManyConnectionsError,  # connection slots full
                        asyncpg.exceptions.CannotConnectNowError,  # starting, stopping, recovering
                        asyncpg.exceptions.ConnectionDoesNotExistError)):  # hung up while connecting
        return True
    if isinstance(exc, (ConnectionError, TimeoutError)):
        # Refused, reset, aborted, or accepted and closed at once (what pgbouncer or a container's
        # port proxy does while the database behind it is down: asyncpg's "unexpected
        # connection_lost()"). TLS asked of a server without it is a ConnectionError too; its line
        # in the log names it.
        return True
    # asyncio's own forms: an errno, or every address of a host refused ("Multiple exceptions: ...").
    return type(exc) is OSError and (exc.errno in _UNREACHABLE or str(exc).startswith("Multiple exceptions:"))


def unavailable(exc: BaseException) -> DatabaseUnavailable:
    """The error a refused connection is answered with (503); its cause is logged here."""
    log.warning("could not open a database connection (%s: %s)", type(exc).__name__, _reason(exc))
    return DatabaseUnavailable()


def outage_of(exc: BaseException) -> DatabaseUnavailable | None:
    """The 503 an error raised mid-request stands for, when it is the database going away; None
    for anything else (a fault, answered 500 with its traceback in the log)."""
    for link in _chain(exc):
        if _went_away(link):
            log.warning("the database went away during a request (%s: %s)", type(link).__name__, _reason(link))
            return DatabaseUnavailable(_MIDWAY)
    return None


def _went_away(exc: BaseException) -> bool:
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True  # SQLAlchemy saw the connection die; the pool has dropped it
    if isinstance(exc, asyncpg.exceptions.ConnectionDoesNotExistError):
        return True  # "connection was closed in the middle of operation"
    if isinstance(exc, asyncpg.exceptions.InterfaceError) and "closed" in str(exc):
        return True  # "connection is closed": a pooled connection the server dropped
    return isinstance(exc, sqlite3.OperationalError) and "disk is full" in str(exc)


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """`exc` and what it wraps: SQLAlchemy's `orig`, then causes and contexts (a few deep)."""
    seen: set[int] = set()
    todo: list[BaseException | None] = [exc]
    while todo and len(seen) < 8:
        link = todo.pop(0)
        if link is None or id(link) in seen:
            continue
        seen.add(id(link))
        yield link
        orig = getattr(link, "orig", None)
        todo += [orig if isinstance(orig, BaseException) else None, link.__cause__, link.__context__]


def _reason(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:300] or type(exc).__name__
