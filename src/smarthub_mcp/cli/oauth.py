"""`smarthub oauth clients create|list|disable|enable`: the authorization server's clients."""

from __future__ import annotations

from typing import Any

import click

from smarthub_mcp.cli.common import config_option, echo_table, handles_errors, run_with_services
from smarthub_mcp.ids import utc_text
from smarthub_mcp.services import Services


@click.group()
def oauth() -> None:
    """The OAuth authorization server: its clients."""


@oauth.group()
def clients() -> None:
    """OAuth clients: create a confidential one, list, disable, enable."""


@clients.command("create")
@click.option("--name", required=True, help="What the consent page calls it, e.g. 'My GPT'.")
@click.option("--redirect-uri", "redirect_uris", multiple=True, required=True,
              help="A callback URL (repeat for several), e.g. https://chatgpt.com/aip/g-XXXX/oauth/callback.")
@click.option("--scope", default=None, help="Space-separated scopes it may ask for (default: every scope).")
@config_option
@handles_errors
def clients_create(name: str, redirect_uris: tuple[str, ...], scope: str | None, config_path: str | None) -> None:
    """Create a confidential client (for a Custom GPT action) and print its id and secret."""
    from smarthub_mcp.identity.audit import write_audit
    from smarthub_mcp.oauth.admin import client_json, create_confidential_client

    async def go(services: Services) -> Any:
        async with services.db.write() as conn:
            made = await create_confidential_client(conn, name, list(redirect_uris), scope, None)
            await write_audit(conn, actor_id=None, action="oauth_client.create", target_type="oauth_client",
                              target_id=made.client_id, before=None, after=client_json(made.client), ip=None,
                              request_id=None)
        return made

    made = run_with_services(config_path, go)
    click.echo("created; store the secret now, it is not shown again:", err=True)
    click.echo(f"client_id\t{made.client_id}")
    click.echo(f"client_secret\t{made.client_secret}")


@clients.command("list")
@config_option
@handles_errors
def clients_list(config_path: str | None) -> None:
    """List every client: from config.toml, registered, metadata documents and admin-made. Times are UTC."""
    from smarthub_mcp.oauth.admin import list_clients

    found = run_with_services(config_path, list_clients)
    echo_table(("CLIENT_ID", "KIND", "NAME", "HOST", "CONFIDENTIAL", "STATUS", "CREATED"), [
        (c["client_id"], c["kind"], c["client_name"] or "-", c["host"], "yes" if c["confidential"] else "no",
         c["status"], utc_text(c["created_at"]) if c["created_at"] else "-")
        for c in found
    ])


def _set_status(client_id: str, status: str, config_path: str | None) -> None:
    from smarthub_mcp.identity.audit import write_audit
    from smarthub_mcp.oauth.admin import set_client_status

    async def go(services: Services) -> Any:
        async with services.db.write() as conn:
            before, revoked = await set_client_status(conn, client_id, status)
            await write_audit(conn, actor_id=None, action="oauth_client.status", target_type="oauth_client",
                              target_id=client_id, before={"status": before},
                              after={"status": status, "grants_revoked": revoked}, ip=None, request_id=None)
        return revoked

    revoked = run_with_services(config_path, go)
    click.echo(f"{client_id}: {status}" + (f"; {revoked} grant(s) revoked" if revoked else ""))


@clients.command("disable")
@click.argument("client_id")
@config_option
@handles_errors
def clients_disable(client_id: str, config_path: str | None) -> None:
    """Disable CLIENT_ID and revoke every grant it holds."""
    _set_status(client_id, "disabled", config_path)


@clients.command("enable")
@click.argument("client_id")
@config_option
@handles_errors
def clients_enable(client_id: str, config_path: str | None) -> None:
    """Enable CLIENT_ID again (its revoked grants stay revoked)."""
    _set_status(client_id, "active", config_path)
