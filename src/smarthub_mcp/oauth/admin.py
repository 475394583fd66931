"""Managing clients and grants: an admin's confidential clients (Custom GPT actions), the client
list, disabling a client (which revokes its grants), and a user's connected apps.

The writes take the caller's transaction, so an admin route records its audit row in the same one.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from smarthub_mcp.errors import InvalidRequest, NotFound
from smarthub_mcp.identity.sessions import hash_token
from smarthub_mcp.ids import new_id, now_ms
from smarthub_mcp.oauth.clients import Client, find_client_row, from_config, new_secret, redirect_uri_refusal
from smarthub_mcp.oauth.grants import revoke_grant
from smarthub_mcp.oauth.scopes import UnknownScope, parse_scopes
from smarthub_mcp.services import Services


@dataclass(frozen=True)
class CreatedClient:
    client_id: str
    client_secret: str
    client: Client


def check_new_client(name: str, redirect_uris: list[str], scope: str | None) -> tuple[str, ...]:
    if not redirect_uris:
        raise InvalidRequest("give at least one redirect URI", details={"field": "redirect_uris"})
    for uri in redirect_uris:
        refusal = redirect_uri_refusal(uri)
        if refusal:
            raise InvalidRequest(refusal, details={"field": "redirect_uris", "value": uri[:200]})
    try:
        return parse_scopes(scope)
    except UnknownScope as exc:
        raise InvalidRequest(f"unknown scope: {exc}", details={"field": "scope"}) from None


async def create_confidential_client(
    conn: AsyncConnection, name: str, redirect_uris: list[str], scope: str | None, created_by: str | None,
) -> CreatedClient:
    """A client with a secret (shown once), for a Custom GPT action or another server-side app."""
    scopes = check_new_client(name, redirect_uris, scope)
    client_id, secret, now = new_id("ocl"), new_secret(), now_ms()
    metadata = {"client_name": name, "redirect_uris": redirect_uris, "scope": " ".join(scopes),
                "token_endpoint_auth_method": "client_secret_basic",
                "grant_types": ["authorization_code", "refresh_token"]}
    await conn.execute(text(
        "INSERT INTO oauth_clients (client_id, kind, metadata_json, secret_hash, status, created_by, created_at,"
        " updated_at) VALUES (:c, 'admin', :m, :s, 'active', :by, :now, :now)"),
        {"c": client_id, "m": json.dumps(metadata), "s": hash_token(secret), "by": created_by, "now": now})
    client = Client(client_id, "admin", name, tuple(redirect_uris), hash_token(secret), scopes)
    return CreatedClient(client_id, secret, client)


def client_json(client: Client, created_at: int | None = None) -> dict[str, Any]:
    return {"client_id": client.client_id, "kind": client.kind, "client_name": client.name, "host": client.host,
            "redirect_uris": list(client.redirect_uris), "scopes": list(client.scopes),
            "confidential": client.confidential, "status": client.status, "created_at": created_at}


async def list_clients(services: Services) -> list[dict[str, Any]]:
    """Clients from config.toml, then the stored ones, oldest first."""
    found = [client_json(from_config(entry, services.config.environ)) for entry in services.settings.oauth.clients]
    rows = await services.db.fetch(
        "SELECT client_id, kind, metadata_json, secret_hash, status, created_at FROM oauth_clients"
        " ORDER BY created_at, client_id")
    for row in rows:
        meta = json.loads(row.metadata_json)
        client = Client(row.client_id, row.kind, str(meta.get("client_name") or ""),
                        tuple(meta.get("redirect_uris") or ()), row.secret_hash,
                        tuple((meta.get("scope") or "").split()), row.status)
        found.append(client_json(client, row.created_at))
    return found


async def set_client_status(conn: AsyncConnection, client_id: str, status: str) -> tuple[str, int]:
    """(the status before, grants revoked). Disabling revokes every grant of the client at once."""
    row = (await conn.execute(text("SELECT status FROM oauth_clients WHERE client_id = :c"),
                              {"c": client_id})).first()
    if row is None:
        raise NotFound("no stored client with this id (clients from config.toml change in config.toml)")
    await conn.execute(text("UPDATE oauth_clients SET status = :s, updated_at = :now WHERE client_id = :c"),
                       {"s": status, "now": now_ms(), "c": client_id})
    revoked = 0
    if status == "disabled":
        grants = await conn.execute(text("SELECT id FROM oauth_grants WHERE client_id = :c AND status = 'active'"),
                                    {"c": client_id})
        for (grant_id,) in grants.all():
            revoked += int(await revoke_grant(conn, grant_id))
    return row.status, revoked


async def grants_json(services: Services, rows: list[Any]) -> list[dict[str, Any]]:
    out = []
    for row in rows:
        # Stored or configured only: listing must not fetch an expired metadata document again.
        configured = [from_config(e, services.config.environ) for e in services.settings.oauth.clients
                      if e.client_id == row.client_id]
        client = configured[0] if configured else await find_client_row(services, row.client_id)
        out.append({"id": row.id, "client_id": row.client_id, "client_name": client.name if client else "",
                    "client_host": client.host if client else "", "scopes": row.scopes.split(),
                    "resources": row.resource.split(), "created_at": row.created_at,
                    "last_used_at": row.last_used_at})
    return out
