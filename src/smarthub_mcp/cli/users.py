"""`smarthub users ...` and `smarthub token`: accounts from the command line (keys: cli/keys.py).

These build the same `Services` as the server, so `users create` runs the user-created hooks
(the credit account and sign-up grant) exactly like registration. On SQLite they upgrade the
schema first, so a newcomer can go from nothing to an API key with the CLI alone.
"""

from __future__ import annotations

import sys
from typing import Any

import click

from smarthub_mcp.cli.common import config_option, echo_table, handles_errors, run_with_services
from smarthub_mcp.cli.keys import keys
from smarthub_mcp.errors import InvalidRequest
from smarthub_mcp.ids import utc_text
from smarthub_mcp.services import Services

NO_TERMINAL = "no terminal to prompt for a password: pass --password or --password-stdin"


@click.group()
def users() -> None:
    """User accounts: create, list, change roles, disable and enable."""


def read_password(password: str | None, from_stdin: bool) -> str:
    """--password, else one line of standard input (--password-stdin), else a prompt on the terminal.
    Without a terminal there is no prompt (getpass would warn and echo): one clear line instead."""
    if password is not None and from_stdin:
        raise InvalidRequest("give --password or --password-stdin, not both")
    if from_stdin:
        line = sys.stdin.readline().rstrip("\r\n")
        if not line:
            raise InvalidRequest("--password-stdin: standard input holds no password")
        return line
    if password is not None:
        return password
    if not sys.stdin.isatty():
        raise InvalidRequest(NO_TERMINAL)
    return str(click.prompt("Password", hide_input=True, confirmation_prompt=True))


@users.command("create")
@click.argument("email")
@click.option("--password", default=None, help="The password (prompted for on a terminal when not given).")
@click.option("--password-stdin", "password_stdin", is_flag=True,
              help="Read the password from the first line of standard input.")
@click.option("--role", default="user", show_default=True, help="admin, manager, user or guest.")
@click.option("--name", "display_name", default=None, help="Display name.")
@config_option
@handles_errors
def users_create(
    email: str, password: str | None, password_stdin: bool, role: str, display_name: str | None,
    config_path: str | None,
) -> None:
    """Create a user (email counts as verified: an operator made it)."""
    from smarthub_mcp.identity.users import create_user

    secret = read_password(password, password_stdin)

    async def go(services: Services) -> Any:
        return await create_user(services, email, secret, role=role, display_name=display_name, email_verified=True)

    user = run_with_services(config_path, go)
    click.echo(f"created {user.email} ({user.role}) id={user.id}")


@users.command("list")
@click.option("--query", "-q", default=None, help="Only emails containing this.")
@click.option("--limit", default=100, show_default=True, type=click.IntRange(1, 10_000))
@config_option
@handles_errors
def users_list(query: str | None, limit: int, config_path: str | None) -> None:
    """List users, oldest first (times in UTC)."""
    from smarthub_mcp.identity.users import list_users

    async def go(services: Services) -> Any:
        async with services.db.read() as conn:
            return await list_users(conn, query=query, limit=limit)

    echo_table(("ID", "EMAIL", "ROLE", "STATUS", "VERIFIED", "CREATED"), [
        (u.id, u.email, u.role, u.status, "verified" if u.email_verified else "unverified", utc_text(u.created_at))
        for u in run_with_services(config_path, go)
    ])


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


def _set_status(email: str, status: str, config_path: str | None) -> tuple[Any, bool]:
    """Set EMAIL's status and audit the change; (the user, whether anything changed)."""
    from smarthub_mcp.identity.audit import write_audit
    from smarthub_mcp.identity.status import set_status
    from smarthub_mcp.identity.users import user_by_email

    async def go(services: Services) -> tuple[Any, bool]:
        user = await user_by_email(services, email)
        async with services.db.write() as conn:
            before, after = await set_status(conn, user.id, status)
            if before is not after:
                await write_audit(conn, actor_id=None, action="user.update", target_type="user", target_id=user.id,
                                  before={"status": before.status}, after={"status": after.status}, ip=None,
                                  request_id="cli")
        return after, before is not after

    result: tuple[Any, bool] = run_with_services(config_path, go)
    return result


@users.command("disable", short_help="Refuse EMAIL's login, keys and tokens until enabled.")
@click.argument("email")
@config_option
@handles_errors
def users_disable(email: str, config_path: str | None) -> None:
    """Disable EMAIL: login is refused, and so are its API keys and tokens on every route and tool
    (code account_disabled); its sessions end. Its keys and balance stay, for `users enable`."""
    user, changed = _set_status(email, "disabled", config_path)
    click.echo(f"{user.email} is {'now' if changed else 'already'} disabled")


@users.command("enable", short_help="Let a disabled EMAIL log in and use its keys again.")
@click.argument("email")
@config_option
@handles_errors
def users_enable(email: str, config_path: str | None) -> None:
    """Enable EMAIL again: its API keys work again; its old sessions stay ended (it logs in anew)."""
    user, changed = _set_status(email, "active", config_path)
    click.echo(f"{user.email} is {'now' if changed else 'already'} enabled")


@click.command("token")
@click.argument("email")
@click.option("--ttl", default=None, type=click.IntRange(30, 30 * 86400), help="Lifetime in seconds.")
@config_option
@handles_errors
def token(email: str, ttl: int | None, config_path: str | None) -> None:
    """Print an access token for a user (for operators and scripts)."""
    from smarthub_mcp.identity.errors import AccountDisabled
    from smarthub_mcp.identity.users import user_by_email

    async def go(services: Services) -> str:
        user = await user_by_email(services, email)
        if user.status != "active":
            raise AccountDisabled(f"{user.email} is disabled; `smarthub users enable {user.email}` enables it")
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
