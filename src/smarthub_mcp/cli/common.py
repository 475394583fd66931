"""What every `smarthub` command shares: the --config option, one-line errors, running async work.

Every command loads the configuration the same way (`--config` or `SMARTHUB_CONFIG`) and turns a
`SmartHubError` into one line on stderr and exit code 2, never a traceback.
"""

from __future__ import annotations

import asyncio
import functools
import os
import sys
import threading
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any, TypeVar

import click

from smarthub_mcp import logs
from smarthub_mcp.config import AppConfig, load_config
from smarthub_mcp.db import Database
from smarthub_mcp.errors import SmartHubError
from smarthub_mcp.migrations import ensure_ready

if TYPE_CHECKING:
    from smarthub_mcp.services import Services

T = TypeVar("T")

config_option = click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False),
    default=None,
    help="Path to config.toml (default: $SMARTHUB_CONFIG, else built-in defaults).",
)


def fail(message: str, code: int = 2) -> None:
    click.echo(f"smarthub: {message}", err=True)
    sys.exit(code)


def echo_table(header: tuple[str, ...], rows: list[tuple[object, ...]]) -> None:
    """Tab-separated rows under a header row: easy to read and to `cut -f` in a script."""
    for row in (header, *rows):
        click.echo("\t".join(str(cell) for cell in row))


def handles_errors(fn: Callable[..., T]) -> Callable[..., T]:
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> T:
        try:
            return fn(*args, **kwargs)
        except SmartHubError as exc:
            fail(exc.message)
            raise  # unreachable; keeps type checkers content

    return wrapper


LOCAL_CONFIG = "config.toml"


def load(config_path: str | None) -> AppConfig:
    """The configuration: `--config`, else $SMARTHUB_CONFIG, else ./config.toml when there is one
    (the file beside the README takes effect as people expect), else the built-in defaults."""
    if config_path is None and not os.environ.get("SMARTHUB_CONFIG") and os.path.isfile(LOCAL_CONFIG):
        config_path = LOCAL_CONFIG
    config = load_config(config_path)
    logs.configure(config.settings.logging.level, config.settings.logging.format)
    return config


def config_source(config: AppConfig) -> str:
    """For the start-up line: which file the settings came from."""
    return str(config.config_path) if config.config_path else "built-in defaults"


def run_async(coro: Coroutine[Any, Any, T]) -> T:
    """Run a command's async work on a loop of its own; every store it opened is closed by then."""

    async def whole() -> T:
        before = set(threading.enumerate())
        try:
            return await coro
        finally:
            await _join_sqlite_stragglers(before)

    return asyncio.run(whole())


async def _join_sqlite_stragglers(before: set[threading.Thread]) -> None:
    """aiosqlite (0.22) stops the thread of a connection that failed to open without waiting for it;
    that thread then posts to a closed loop and dies with a traceback (seen when commands run in
    process, as the tests run them). Wait, bounded, for such threads this run started."""
    for thread in set(threading.enumerate()) - before:
        if thread.name.endswith("(_connection_worker_thread)"):
            await asyncio.to_thread(thread.join, 5)


async def with_db(
    config: AppConfig, fn: Callable[[Database], Coroutine[Any, Any, T]], *, ready: bool = False
) -> T:
    """Run `fn` on the configured database. `ready`: first make sure it answers and its schema is
    current (SQLite is upgraded, as `serve` does; a lagging PostgreSQL is refused in one line)."""
    db = Database(config.secrets.database_url, pool_size=2)
    try:
        if ready:
            await ensure_ready(db, auto_upgrade=db.is_sqlite)
        return await fn(db)
    finally:
        await db.close()


async def with_services(config: AppConfig, fn: Callable[[Services], Coroutine[Any, Any, T]]) -> T:
    """Run `fn` with the app's services on a database that answers and whose schema is current;
    everything they opened is closed afterwards (commands also run in process, in the tests)."""
    from smarthub_mcp.compose import build_services, close_services

    services = build_services(config, db=Database(config.secrets.database_url, pool_size=2))
    try:
        await ensure_ready(services.db, auto_upgrade=services.db.is_sqlite)
        return await fn(services)
    finally:
        await close_services(services)


def run_with_services(config_path: str | None, fn: Callable[[Services], Coroutine[Any, Any, T]]) -> T:
    """What a command that needs the app's services runs: load the config, then `with_services`."""
    return run_async(with_services(load(config_path), fn))


def require_existing_database(url: str) -> None:
    """stdio serves a key's owner from an existing database: it never creates a SQLite file. MCP
    clients launch it from a directory of their choosing, where a new, empty database would only
    turn "wrong directory or URL" into "your key is invalid"."""
    from pathlib import Path

    from sqlalchemy.engine import make_url

    from smarthub_mcp.db import normalize_url

    parsed = make_url(normalize_url(url))
    if parsed.get_backend_name() != "sqlite":
        return  # PostgreSQL: reachability and schema are checked on start
    name = parsed.database
    path = Path(name).resolve() if name and name != ":memory:" else None
    if path is None:
        where = "an in-memory SQLite database is empty"
    elif not path.is_file():
        where = f"no SmartHub database at {path}"
    elif path.stat().st_size == 0:  # what this command used to leave behind
        where = f"the SmartHub database at {path} is empty"
    else:
        return
    fail(
        f"{where}; stdio does not create one. Set SMARTHUB_DATABASE_URL to the server's database,"
        " e.g. sqlite:////absolute/path/to/smarthub.db or postgresql://user@host/db"
    )
