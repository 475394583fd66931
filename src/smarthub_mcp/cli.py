"""`smarthub`: serve, stdio, and the operator's commands.

Every command loads the configuration the same way (`--config` or `SMARTHUB_CONFIG`) and turns a
`SmartHubError` into one line on stderr and exit code 2, never a traceback.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import sys
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any, TypeVar

import click

from smarthub_mcp import __version__, logs
from smarthub_mcp.config import AppConfig, load_config
from smarthub_mcp.db import Database
from smarthub_mcp.errors import SmartHubError

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


def handles_errors(fn: Callable[..., T]) -> Callable[..., T]:
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> T:
        try:
            return fn(*args, **kwargs)
        except SmartHubError as exc:
            fail(exc.message)
            raise  # unreachable; keeps type checkers content

    return wrapper


def load(config_path: str | None) -> AppConfig:
    config = load_config(config_path)
    logs.configure(config.settings.logging.level, config.settings.logging.format)
    return config


def run_async(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


async def with_db(
    config: AppConfig, fn: Callable[[Database], Coroutine[Any, Any, T]], *, ready: bool = False
) -> T:
    """Run `fn` on the configured database. `ready`: first make sure it answers and its schema is
    current (SQLite is upgraded, as `serve` does; a lagging PostgreSQL is refused in one line)."""
    from smarthub_mcp.migrations import ensure_ready

    db = Database(config.secrets.database_url, pool_size=2)
    try:
        if ready:
            await ensure_ready(db, auto_upgrade=db.is_sqlite)
        return await fn(db)
    finally:
        await db.close()


async def with_services(config: AppConfig, fn: Callable[[Services], Coroutine[Any, Any, T]]) -> T:
    """Run `fn` with the app's services on a database that answers and whose schema is current."""
    from smarthub_mcp.compose import build_services

    async def on(db: Database) -> T:
        return await fn(build_services(config, db=db))

    return await with_db(config, on, ready=True)


def run_with_services(config_path: str | None, fn: Callable[[Services], Coroutine[Any, Any, T]]) -> T:
    """What a command that needs the app's services runs: load the config, then `with_services`."""
    return run_async(with_services(load(config_path), fn))


@click.group()
@click.version_option(__version__, prog_name="smarthub")
def main() -> None:
    """SmartHub MCP: a credit-metered AI gateway that speaks MCP."""


@main.command()
def version() -> None:
    """Print the version."""
    click.echo(__version__)


@main.command()
@click.option("--host", default=None, help="Interface to bind (default from config: 127.0.0.1).")
@click.option("--port", type=click.IntRange(0, 65535), default=None, help="Port (default from config: 8000).")
@config_option
@handles_errors
def serve(host: str | None, port: int | None, config_path: str | None) -> None:
    """Run the HTTP server: MCP at /mcp, the API at /api/v1."""
    import uvicorn

    from smarthub_mcp.app import build_app
    from smarthub_mcp.migrations import ensure_ready

    config = load(config_path)
    server = config.settings.server
    db_probe = Database(config.secrets.database_url, pool_size=1)

    async def prepare() -> None:
        try:
            await ensure_ready(db_probe, auto_upgrade=db_probe.is_sqlite)
        finally:
            await db_probe.close()

    run_async(prepare())
    app = build_app(config, freeze_heap=True)
    click.echo(
        f"SmartHub MCP {__version__} on http://{host or server.host}:{port or server.port} "
        f"(MCP at /mcp, API at /api/v1, database: {db_probe.dialect})",
        err=True,
    )
    uvicorn.run(
        app,
        host=host or server.host,
        port=port if port is not None else server.port,
        log_config=None,
        access_log=False,
        lifespan="on",
        proxy_headers=True,
        forwarded_allow_ips=",".join(server.forwarded_allow_ips),
    )


@main.command(short_help="Serve MCP over stdio as the owner of $SMARTHUB_API_KEY.")
@config_option
@handles_errors
def stdio(config_path: str | None) -> None:
    """Serve the MCP tools over stdio, as the owner of $SMARTHUB_API_KEY (for Claude Desktop and friends)."""
    import os

    from smarthub_mcp.compose import build_services, serving
    from smarthub_mcp.errors import Unauthenticated
    from smarthub_mcp.identity.principals import principal_for_api_key
    from smarthub_mcp.migrations import ensure_ready
    from smarthub_mcp.tools.server import build_mcp_server

    api_key = os.environ.get("SMARTHUB_API_KEY", "").strip()
    if not api_key:
        fail("SMARTHUB_API_KEY is not set: create one with `smarthub keys create EMAIL` and pass it in the environment")
    config = load(config_path)
    require_existing_database(config.secrets.database_url)
    services = build_services(config)

    async def go() -> None:
        await ensure_ready(services.db, auto_upgrade=services.db.is_sqlite)
        try:
            principal = await principal_for_api_key(services, api_key)
        except Unauthenticated:
            await services.db.close()
            fail("SMARTHUB_API_KEY is invalid, expired or revoked")
            return
        logging.getLogger("smarthub").info("stdio session for %s (%s)", principal.email, principal.role)
        mcp = build_mcp_server(services, api_key=api_key)
        async with serving(services):
            await mcp.run_stdio_async()

    run_async(go())


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


@main.group()
def db() -> None:
    """Database schema: upgrade and status."""


@db.command("upgrade")
@config_option
@handles_errors
def db_upgrade(config_path: str | None) -> None:
    """Apply every migration not yet applied (safe to run twice)."""
    from smarthub_mcp.migrations import check_reachable, upgrade

    config = load(config_path)

    async def go(database: Database) -> list[Any]:
        await check_reachable(database)
        return await upgrade(database)

    applied = run_async(with_db(config, go))
    for m in applied:
        click.echo(f"applied {m.version:04d}_{m.name}")
    if not applied:
        click.echo("database is up to date")


@db.command("status")
@config_option
@handles_errors
def db_status(config_path: str | None) -> None:
    """Show applied and pending migrations."""
    from smarthub_mcp.migrations import applied_versions, available, check_reachable

    config = load(config_path)

    async def go(database: Database) -> set[int]:
        await check_reachable(database)
        return await applied_versions(database)

    done = run_async(with_db(config, go))
    for m in available():
        state = "applied" if m.version in done else "pending"
        click.echo(f"{m.version:04d}_{m.name}\t{state}")


def _add_package_commands() -> None:
    from smarthub_mcp.billing.cli import credits
    from smarthub_mcp.billing.cli_promo import promo
    from smarthub_mcp.identity import cli as identity_cli

    identity_cli.register(main)
    main.add_command(credits)
    main.add_command(promo)


_add_package_commands()

if __name__ == "__main__":
    main()
