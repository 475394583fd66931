"""OAuth access tokens on the resource servers (/mcp and the tool facade): token to Principal.

An OAuth access token is one of our JWTs with the grant's id (`gid`) and client in it and the
resources it was issued for as its audience. It is accepted only where its audience names the
resource being called, while its grant is active and its user active, and while the user's
token generation is the one the grant was made under (a password change or reset, or disabling
the account, disconnects every app).
The principal's permissions are the role's, limited to what the granted scopes name.
"""

from __future__ import annotations

import logging

import jwt

from smarthub_mcp.errors import Unauthenticated
from smarthub_mcp.identity.errors import AccountDisabled
from smarthub_mcp.identity.principal import Principal
from smarthub_mcp.oauth.grants import GRANT_CLAIM
from smarthub_mcp.oauth.scopes import permissions_for
from smarthub_mcp.services import Services

log = logging.getLogger("smarthub.oauth")


def base_url(services: Services) -> str:
    return services.settings.server.public_base_url.rstrip("/")


def mcp_resource(services: Services) -> str:
    return f"{base_url(services)}/mcp"


def tools_resource(services: Services) -> str:
    return f"{base_url(services)}/api/v1/tools"


def resources(services: Services) -> tuple[str, ...]:
    return mcp_resource(services), tools_resource(services)


def is_oauth_token(token: str) -> bool:
    """Does this bearer value claim to be an OAuth access token (signature not checked yet)?"""
    if token.count(".") != 2:
        return False
    try:
        claims = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError:
        return False
    return isinstance(claims, dict) and GRANT_CLAIM in claims


async def principal_for_oauth_token(services: Services, token: str, resource: str) -> tuple[Principal, int]:
    """The principal and expiry (epoch seconds) of an OAuth token for `resource`, or Unauthenticated."""
    claims = services.identity.codec.decode(token, audience=resource)
    grant_id = claims.get(GRANT_CLAIM)
    if not isinstance(grant_id, str):
        raise Unauthenticated("Invalid access token")
    row = await services.db.fetch_one(
        "SELECT u.email, u.role, u.status, u.email_verified, u.token_generation, g.status AS grant_status,"
        " g.scopes, g.user_generation FROM oauth_grants g JOIN users u ON u.id = g.user_id"
        " WHERE g.id = :g AND u.id = :sub",
        {"g": grant_id, "sub": claims["sub"]},
    )
    if (row is None or row.grant_status != "active" or claims.get("gen") != row.token_generation
            or row.user_generation != row.token_generation):
        raise Unauthenticated("The access token has been revoked")
    if row.status != "active":
        raise AccountDisabled()
    principal = Principal(
        user_id=claims["sub"],
        email=row.email,
        role=row.role,
        permissions=await services.identity.roles.permissions(row.role),
        auth_method="oauth",
        scopes=permissions_for([s for s in str(claims.get("scope", "")).split() if s in row.scopes.split()]),
        token_id=claims["jti"],
        email_verified=bool(row.email_verified),
    )
    return principal, int(claims["exp"])
