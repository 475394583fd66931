"""Authorization requests: what /authorize was asked, kept until the person decides.

The request is checked once, at /authorize, and stored under a random id; the sign-in and
consent pages carry only that id. Storing it (rather than signing it into the page) keeps
the pages small and lets any replica finish what another began.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import asdict, dataclass

from sqlalchemy import text

from smarthub_mcp.ids import now_ms
from smarthub_mcp.services import Services


@dataclass(frozen=True)
class AuthorizationRequest:
    client_id: str
    redirect_uri: str
    redirect_uri_explicit: bool
    scopes: tuple[str, ...]
    resource: str
    state: str | None
    code_challenge: str | None


async def save_request(services: Services, request: AuthorizationRequest) -> str:
    request_id = secrets.token_urlsafe(24)
    now = now_ms()
    async with services.db.write() as conn:
        await conn.execute(text("DELETE FROM oauth_requests WHERE expires_at < :now"), {"now": now})
        await conn.execute(
            text("INSERT INTO oauth_requests (id, client_id, params_json, expires_at) VALUES (:id, :c, :p, :exp)"),
            {"id": request_id, "c": request.client_id, "p": json.dumps(asdict(request)),
             "exp": now + services.settings.oauth.request_ttl_seconds * 1000},
        )
    return request_id


async def load_request(services: Services, request_id: str) -> AuthorizationRequest | None:
    if not request_id or len(request_id) > 64:
        return None
    row = await services.db.fetch_one(
        "SELECT params_json, expires_at FROM oauth_requests WHERE id = :id", {"id": request_id}
    )
    if row is None or row.expires_at < now_ms():
        return None
    data = json.loads(row.params_json)
    data["scopes"] = tuple(data["scopes"])
    return AuthorizationRequest(**data)


async def end_request(services: Services, request_id: str) -> bool:
    """Remove the request; False when it was already gone (a double submit decides once)."""
    async with services.db.write() as conn:
        done = await conn.execute(text("DELETE FROM oauth_requests WHERE id = :id"), {"id": request_id})
    return done.rowcount == 1
