"""From a bearer credential to a Principal: the hot path of every MCP call and API request.

A JWT costs one query (the user's status, role and verification, plus whether its `jti` is
revoked, in one statement); an API key costs one query (key joined with its owner), plus an update
of `last_used_at` at most once a minute per key. Role permissions come from the in-process cache
(`roles.RoleTable`, a few seconds old at most). Authorization uses the user's *current* role, so a
demotion or a disabled account takes effect on the next request, not when the token expires; a
disabled account's key or token is refused as `account_disabled` (403).
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import text

from smarthub_mcp.errors import EmailNotVerified, Unauthenticated
from smarthub_mcp.identity.errors import AccountDisabled
from smarthub_mcp.identity.principal import Principal
from smarthub_mcp.identity.sessions import hash_token
from smarthub_mcp.ids import now_ms
from smarthub_mcp.services import Services

API_KEY_PREFIX = "shk_"
LAST_USED_GRANULARITY_MS = 60_000


async def verify_jwt(services: Services, token: str) -> tuple[Principal, dict[str, Any]]:
    """The principal and the verified claims of an access token, or Unauthenticated."""
    claims = services.identity.codec.decode(token)
    row = await services.db.fetch_one(
        "SELECT u.email, u.role, u.status, u.email_verified, u.token_generation,"
        " (SELECT COUNT(*) FROM revoked_tokens WHERE jti = :jti) AS revoked"
        " FROM users u WHERE u.id = :sub",
        {"sub": claims["sub"], "jti": claims["jti"]},
    )
    if row is None:
        raise Unauthenticated("Invalid access token")
    _require_active(row.status)
    if row.revoked or claims.get("gen") != row.token_generation:
        raise Unauthenticated("The access token has been revoked")
    principal = Principal(
        user_id=claims["sub"],
        email=row.email,
        role=row.role,
        permissions=await services.identity.roles.permissions(row.role),
        auth_method="jwt",
        scopes=None,  # a session token carries the user's whole (current) role
        token_id=claims["jti"],
        email_verified=bool(row.email_verified),
    )
    return principal, claims


async def principal_for_api_key(services: Services, key: str) -> Principal:
    """The principal of an API key (`shk_...`), or Unauthenticated. stdio mode calls this too."""
    if not key.startswith(API_KEY_PREFIX) or len(key) > 100:
        raise Unauthenticated("Invalid API key")
    now = now_ms()
    row = await services.db.fetch_one(
        "SELECT k.id, k.user_id, k.scopes, k.expires_at, k.last_used_at, k.revoked_at,"
        " u.email, u.role, u.status, u.email_verified"
        " FROM api_keys k JOIN users u ON u.id = k.user_id WHERE k.key_hash = :h",
        {"h": hash_token(key)},
    )
    if row is None or row.revoked_at is not None:
        raise Unauthenticated("Invalid API key")
    _require_active(row.status)
    if row.expires_at is not None and row.expires_at <= now:
        raise Unauthenticated("The API key has expired")
    if row.last_used_at is None or now - row.last_used_at >= LAST_USED_GRANULARITY_MS:
        await _touch(services, row.id, now)
    return Principal(
        user_id=row.user_id,
        email=row.email,
        role=row.role,
        permissions=await services.identity.roles.permissions(row.role),
        auth_method="api_key",
        scopes=frozenset(json.loads(row.scopes)) if row.scopes is not None else None,
        token_id=row.id,
        email_verified=bool(row.email_verified),
    )


def _require_active(status: str) -> None:
    """A disabled account's credentials are refused with one code everywhere (login included), after
    the credential itself checked out: only its holder learns why."""
    if status != "active":
        raise AccountDisabled()


async def _touch(services: Services, key_id: str, now: int) -> None:
    # Conditional, so concurrent requests on several replicas write at most once a minute.
    async with services.db.write() as conn:
        await conn.execute(
            text(
                "UPDATE api_keys SET last_used_at = :now WHERE id = :id"
                " AND (last_used_at IS NULL OR last_used_at <= :before)"
            ),
            {"now": now, "id": key_id, "before": now - LAST_USED_GRANULARITY_MS},
        )


async def principal_for_bearer(services: Services, credential: str) -> Principal:
    """A bearer value is an API key when it starts with `shk_`, else a JWT."""
    credential = credential.strip()
    if not credential:
        raise Unauthenticated()
    if credential.startswith(API_KEY_PREFIX):
        return await principal_for_api_key(services, credential)
    return (await verify_jwt(services, credential))[0]


def require_paid_access(services: Services, principal: Principal) -> None:
    """Raise EmailNotVerified (403 `email_not_verified`) when `auth.require_verified_email` is on and the
    principal's email is not verified. The metering layer calls this before any paid tool runs."""
    if services.settings.auth.require_verified_email and not principal.email_verified:
        raise EmailNotVerified("verify your email address before using paid tools")
