"""`smarthub users ...`, `smarthub keys ...`, `smarthub token`: accounts from the command line.

These build the same `Services` as the server, so `users create` runs the user-created hooks
(the credit account and sign-up grant) exactly like registration. On SQLite they upgrade the
schema first, so a newcomer can go from nothing to an API key with the CLI alone.
"""

from __future__ import annotations

from typing import Any

import click

from smarthub_mcp.cli.common import config_option, handles_errors, run_with_services
from smarthub_mcp.services import Services


@click.group()
def users() -> None:
    """User accounts: create, list, change roles."""


@users.command("create")
@click.argument("email")
@click.option("--password", default=None, help="The password (prompted for when not given).")
@click.option("--role", default="user", show_default=True, help="admin, manager, user or guest.")
@click.option("--name", "display_name", default=None, help="Display name.")
@config_option
@handles_errors
def users_create(
    email: str, password: str | None, role: str, display_name: str | None, config_path: str | None
) -> None:
    """Create a user (email counts as verified: an operator made it)."""
    from smarthub_mcp.identity.users import create_user

    if password is None:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)

    async def go(services: Services) -> Any:
        return await create_user(services, email, password, role=role, display_name=display_name, email_verified=True)

    user = run_with_services(config_path, go)
    click.echo(f"created {user.email} ({user.role}) id={user.id}")


@users.command("list")
@click.option("--query", "-q", default=None, help="Only emails containing this.")
@click.option("--limit", default=100, show_default=True, type=click.IntRange(1, 10_000))
@config_option
@handles_errors
def users_list(query: str | None, limit: int, config_path: str | None) -> None:
    """List users, oldest first."""
    from smarthub_mcp.identity.users import list_users

    async def go(services: Services) -> Any:
        async with services.db.read() as conn:
            return await list_users(conn, query=query, limit=limit)

    for user in run_with_services(config_path, go):
        verified = "verified" if user.email_verified else "unverified"
        click.echo(f"{user.id}\t{user.email}\t{user.role}\t{user.status}\t{verified}")


@users.command("set-role")
@click.argument("email")
@click.argument("role")
@config_option
@handles_errors
def users_set_role(email: str, role: str, config_path: str | None) -> None:
    """Change a user's role."""
    from smarthub_mcp.identity.errors import UnknownRole
    from smarthub_mcp.identity.users import update_user, user_by_email

    async def go(services: Services) -> Any:
        if not await services.identity.roles.exists(role):
            raise UnknownRole(f"unknown role {role!r}")
        user = await user_by_email(services, email)
        async with services.db.write() as conn:
            return await update_user(conn, user.id, role=role)

    user = run_with_services(config_path, go)
    click.echo(f"{user.email} is now {user.role}")


@click.group()
def keys() -> None:
    """API keys for agents and MCP clients."""


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


@keys.command("revoke")
@click.argument("prefix")
@config_option
@handles_errors
def keys_revoke(prefix: str, config_path: str | None) -> None:
    """Revoke a key by its visible prefix (`shk_` + 8 characters)."""
    from smarthub_mcp.identity.apikeys import revoke_key

    info = run_with_services(config_path, lambda services: revoke_key(services, prefix=prefix))
    click.echo(f"revoked {info.prefix}... ({info.name or 'unnamed'})")


@click.command("token")
@click.argument("email")
@click.option("--ttl", default=None, type=click.IntRange(30, 30 * 86400), help="Lifetime in seconds.")
@config_option
@handles_errors
def token(email: str, ttl: int | None, config_path: str | None) -> None:
    """Print an access token for a user (for operators and scripts)."""
    from smarthub_mcp.errors import Forbidden
    from smarthub_mcp.identity.users import user_by_email

    async def go(services: Services) -> str:
        user = await user_by_email(services, email)
        if user.status != "active":
            raise Forbidden(f"{user.email} is disabled")
        permissions = sorted(await services.identity.roles.permissions(user.role))
        issued = services.identity.codec.issue(
            user_id=user.id, role=user.role, scope=permissions, ttl_seconds=ttl, generation=user.token_generation
        )
        return issued.token

    click.echo(run_with_services(config_path, go))


def register(main: click.Group) -> None:
    main.add_command(users)
    main.add_command(keys)
    main.add_command(token)
