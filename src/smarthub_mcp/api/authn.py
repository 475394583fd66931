"""Authentication for the HTTP API: `Authorization: Bearer <JWT or API key>` to a Principal."""

from __future__ import annotations

from starlette.requests import Request

from smarthub_mcp.errors import Unauthenticated
from smarthub_mcp.identity.principal import Principal
from smarthub_mcp.identity.principals import API_KEY_PREFIX, principal_for_api_key, verify_jwt
from smarthub_mcp.services import Services

MISSING_CHALLENGE = 'Bearer realm="smarthub"'


def bearer_value(request: Request) -> str:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        raise Unauthenticated("Missing credentials: send Authorization: Bearer <token or API key>",
                              headers={"WWW-Authenticate": MISSING_CHALLENGE})
    return value.strip()


async def authenticate(request: Request) -> Principal:
    """The caller's principal (cached on the request), or Unauthenticated."""
    cached = getattr(request.state, "principal", None)
    if cached is not None:
        return cached
    services: Services = request.app.state.services
    credential = bearer_value(request)
    if credential.startswith(API_KEY_PREFIX):
        principal = await principal_for_api_key(services, credential)
    else:
        principal, claims = await verify_jwt(services, credential)
        request.state.token_exp = int(claims["exp"])
    request.state.principal = principal
    return principal


async def require(request: Request, permission: str | None = None) -> Principal:
    """Authenticate, then check `permission` (Forbidden when the principal lacks it)."""
    principal = await authenticate(request)
    if permission is not None:
        principal.require(permission)
    return principal


def client_ip(request: Request) -> str | None:
    """The client's address: the peer's, or, from a proxy listed in `server.forwarded_allow_ips`, the
    one its X-Forwarded-For names (uvicorn rewrites the peer)."""
    return request.client.host if request.client else None
