"""The MCP SDK's authentication seam: bearer token (JWT or API key) to an `AccessToken`.

`SmartHubTokenVerifier.verify_token` answers None for anything it does not accept (the SDK then
answers 401 with its `WWW-Authenticate` challenge). The principal rides in `AccessToken.claims`,
and `principal_from_access_token` turns it back into a `Principal` inside tools and middleware.

A token that could not be checked at all (the database out of reach: a 5xx error) is not a bad
token, but the SDK knows only "a token" or "none". A 401 would tell the client its token is dead
(it refreshes, or signs the person in again), so such an error is also put into `auth_outage`,
where the transport (api/middleware.py) answers it in place of the 401.
"""

from __future__ import annotations

import logging
from contextvars import ContextVar
from typing import Any

from mcp.server.auth.provider import AccessToken

from smarthub_mcp.dbfaults import outage_of
from smarthub_mcp.errors import SmartHubError
from smarthub_mcp.identity.principal import Principal
from smarthub_mcp.identity.principals import API_KEY_PREFIX, principal_for_api_key, verify_jwt
from smarthub_mcp.services import Services

log = logging.getLogger("smarthub.identity")
PRINCIPAL_CLAIM = "smarthub_principal"

auth_outage: ContextVar[list[SmartHubError] | None] = ContextVar("auth_outage", default=None)
"""Per request, set by the transport: the errors that kept a token from being checked."""


def refused(exc: Exception) -> None:
    """What a verifier does with an error before it answers None: a bad token is simply None; an
    outage (a 5xx, or the database going away under the check) is noted for the transport; any
    other exception is a fault, raised again."""
    error = exc if isinstance(exc, SmartHubError) else outage_of(exc)
    if error is None:
        raise exc
    box = auth_outage.get()
    if error.status >= 500 and box is not None:
        box.append(error)


def principal_claims(principal: Principal) -> dict[str, Any]:
    return {
        "user_id": principal.user_id,
        "email": principal.email,
        "role": principal.role,
        "permissions": sorted(principal.permissions),
        "auth_method": principal.auth_method,
        "scopes": sorted(principal.scopes) if principal.scopes is not None else None,
        "token_id": principal.token_id,
        "email_verified": principal.email_verified,
    }


class SmartHubTokenVerifier:
    """Implements `mcp.server.auth.provider.TokenVerifier`."""

    def __init__(self, services: Services) -> None:
        self.services = services

    async def verify_token(self, token: str) -> AccessToken | None:
        try:
            expires_at = None
            if token.startswith(API_KEY_PREFIX):
                principal = await principal_for_api_key(self.services, token)
            else:
                principal, claims = await verify_jwt(self.services, token)
                # The SDK refuses a token past `expires_at`; give it the leeway the codec allowed, or
                # a token the HTTP API still takes would be refused over MCP.
                expires_at = int(claims["exp"]) + self.services.settings.auth.leeway_seconds
        except Exception as exc:
            refused(exc)
            return None
        effective = sorted(p for p in principal.permissions if principal.can(p))
        return AccessToken(
            token=token,
            client_id=principal.token_id or principal.user_id,
            scopes=effective,
            expires_at=expires_at,
            resource=None,  # the audience is checked in verify_jwt; it is not the server's URL
            subject=principal.user_id,
            claims={PRINCIPAL_CLAIM: principal_claims(principal)},
        )


def principal_from_access_token(token: AccessToken) -> Principal:
    """The Principal that `SmartHubTokenVerifier` put into `token.claims`."""
    data = (token.claims or {}).get(PRINCIPAL_CLAIM)
    if not isinstance(data, dict):
        raise ValueError("this access token was not produced by SmartHubTokenVerifier")
    scopes = data.get("scopes")
    return Principal(
        user_id=data["user_id"],
        email=data["email"],
        role=data["role"],
        permissions=frozenset(data["permissions"]),
        auth_method=data["auth_method"],
        scopes=frozenset(scopes) if scopes is not None else None,
        token_id=data.get("token_id"),
        email_verified=bool(data.get("email_verified")),
    )
