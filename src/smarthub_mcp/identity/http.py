"""Authentication for the HTTP API.

# TEMPORARY (ledger branch): a minimal stand-in so the credit routes can be built and tested
# before the identity package lands; the identity branch replaces this whole file at merge.
It decodes an HS256 JWT signed with SMARTHUB_JWT_SECRET (claims: sub, role, email) and maps the
role to permissions with a fixed table.
"""

from __future__ import annotations

import jwt
from starlette.requests import Request

from smarthub_mcp.errors import Unauthenticated
from smarthub_mcp.identity.principal import Principal

_USER = frozenset({"tools:chat", "tools:image", "tools:video", "tools:templates", "credits:read"})
_ROLE_PERMISSIONS = {
    "guest": frozenset({"tools:chat", "credits:read"}),
    "user": _USER,
    "manager": _USER | {"reports:read", "payments:read"},
    "admin": _USER | {"reports:read", "payments:read", "credits:adjust", "promo:manage", "users:manage"},
}


async def require(request: Request, permission: str | None = None) -> Principal:
    """Authenticate, then check `permission` (Forbidden when the principal lacks it)."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated("Missing credentials: send Authorization: Bearer <token>")
    settings = request.app.state.services.settings.auth
    secret = request.app.state.services.secrets.jwt_secret
    if not secret:
        raise Unauthenticated()
    try:
        claims = jwt.decode(token.strip(), secret, algorithms=["HS256"], audience=settings.audience,
                            issuer=settings.issuer, options={"require": ["sub", "exp"]})
    except jwt.PyJWTError:
        raise Unauthenticated() from None
    role = str(claims.get("role", "user"))
    principal = Principal(
        user_id=str(claims["sub"]), email=str(claims.get("email", "")), role=role,
        permissions=_ROLE_PERMISSIONS.get(role, frozenset()), auth_method="jwt",
        token_id=claims.get("jti"), email_verified=bool(claims.get("email_verified", False)),
    )
    if permission is not None:
        principal.require(permission)
    return principal


def client_ip(request: Request) -> str | None:
    return request.client.host if request.client else None
