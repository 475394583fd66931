"""`smarthub keys create|list|revoke`: API keys for agents and MCP clients."""

from __future__ import annotations

from typing import Any

import click

from smarthub_mcp.cli.common import config_option, echo_table, handles_errors, run_with_services
from smarthub_mcp.ids import utc_text
from smarthub_mcp.services import Services


@click.group()
def keys() -> None:
    """API keys for agents and MCP clients: create, list, revoke."""


@keys.command("create")
@click.argument("email")
@click.option("--name", default="cli", show_default=True, help="A label to tell keys apart.")
@config_option
@handles_errors
def keys_create(email: str, name: str, config_path: str | None) -> None:
    """Create an API key for a user and print it (shown only this once)."""
    from smarthub_mcp.identity.apikeys import create_key
    from smarthub_mcp.identity.users import user_by_email

    async def go(services: Services) -> Any:
        user = await user_by_email(services, email)
        return await create_key(services, user.id, name=name)

    key, info = run_with_services(config_path, go)
    click.echo(f"created key {info.prefix}... for {email}; store it now, it is not shown again:", err=True)
    click.echo(key)


def _when(ms: int | None) -> str:
    return utc_text(ms) if ms is not None else "-"


@keys.command("list", short_help="List keys: one user's (EMAIL) or everyone's.")
@click.argument("email", required=False)
@click.option("--all", "show_all", is_flag=True, help="Include revoked keys.")
@click.option("--limit", default=1000, show_default=True, type=click.IntRange(1, 100_000))
@config_option
@handles_errors
def keys_list(email: str | None, show_all: bool, limit: int, config_path: str | None) -> None:
    """List API keys, oldest first: EMAIL's, or everyone's when no EMAIL is given. Times are UTC."""
    from smarthub_mcp.identity.apikeys import list_owned_keys
    from smarthub_mcp.identity.users import user_by_email

    async def go(services: Services) -> Any:
        user_id = (await user_by_email(services, email)).id if email else None
        return await list_owned_keys(services, user_id=user_id, include_revoked=show_all, limit=limit)

    echo_table(("ID", "PREFIX", "NAME", "OWNER", "CREATED", "LAST_USED", "EXPIRES", "REVOKED"), [
        (k.id, k.prefix, k.name or "-", owned.email, utc_text(k.created_at), _when(k.last_used_at),
         _when(k.expires_at), _when(k.revoked_at))
        for owned in run_with_services(config_path, go) for k in [owned.info]
    ])


@keys.command("revoke", short_help="Revoke a key by its id or its prefix (shk_...).")
@click.argument("key")
@config_option
@handles_errors
def keys_revoke(key: str, config_path: str | None) -> None:
    """Revoke KEY: its id (key_...), its prefix as `keys list` shows it, or enough of the prefix to
    name one active key (shk_ and at least 4 more characters). A prefix that names several keys
    revokes none and lists them."""
    from smarthub_mcp.identity.apikeys import find_active_key, revoke_key
    from smarthub_mcp.identity.audit import write_audit

    async def go(services: Services) -> Any:
        found = await find_active_key(services, key)
        info = await revoke_key(services, key_id=found.info.id)
        async with services.db.write() as conn:
            await write_audit(conn, actor_id=None, action="api_key.revoke", target_type="api_key", target_id=info.id,
                              before={"revoked_at": None}, after={"revoked_at": info.revoked_at}, ip=None,
                              request_id="cli")
        return found.email, info

    email, info = run_with_services(config_path, go)
    click.echo(f"revoked {info.prefix}... ({info.name or 'unnamed'}) of {email}, id {info.id}")
