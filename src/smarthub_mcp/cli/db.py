"""`smarthub db upgrade|status`: the schema."""

from __future__ import annotations

from typing import Any

import click

from smarthub_mcp.cli.common import (
    config_option,
    handles_errors,
    load,
    run_async,
    with_db,
)
from smarthub_mcp.db import Database


@click.group()
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
