"""Authentication for the HTTP API: `Authorization: Bearer <JWT or API key>` to a Principal."""

from __future__ import annotations

from starlette.requests import Request

from smarthub_mcp.errors import Unauthenticated
from smarthub_mcp.identity.principal import Principal
from smarthub_mcp.identity.principals import API_KEY_PREFIX, principal_for_api_key, verify_jwt
from smarthub_mcp.oauth.access import is_oauth_token, principal_for_oauth_token, tools_resource
from smarthub_mcp.services import Services

MISSING_CHALLENGE = 'Bearer realm="smarthub"'


def bearer_value(request: Request) -> str:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        raise Unauthenticated("Missing credentials: send Authorization: Bearer <token or API key>",
                              headers={"WWW-Authenticate": MISSING_CHALLENGE})
    return value.strip()


WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


async def authenticate(request: Request, *, metered: bool = False) -> Principal:
    """The caller's principal (cached on the request), or Unauthenticated.

    A request that writes (or reaches Stripe) counts against the caller's requests-per-minute limit
    here, once, like a tool call: RateLimited (429 with Retry-After) past it. `metered` routes (the
    tool facade, /v1, template runs) skip this: the meter counts them, with their tokens."""
    cached = getattr(request.state, "principal", None)
    if cached is not None:
        return cached
    services: Services = request.app.state.services
    credential = bearer_value(request)
    if credential.startswith(API_KEY_PREFIX):
        principal = await principal_for_api_key(services, credential)
    elif is_oauth_token(credential):
        # An OAuth token works only where its audience points: the tool facade (a GPT action's calls).
        if not request.url.path.startswith("/api/v1/tools"):
            raise Unauthenticated("This OAuth access token is for the tool facade and /mcp only")
        principal, request.state.token_exp = await principal_for_oauth_token(
            services, credential, tools_resource(services))
    else:
        principal, claims = await verify_jwt(services, credential)
        request.state.token_exp = int(claims["exp"])
    if request.method in WRITE_METHODS and not metered:
        await services.rate_limiter.check(principal, f"{request.method} {request.url.path}"[:200], 0)
    request.state.principal = principal
    return principal


async def require(request: Request, permission: str | None = None, *, metered: bool = False) -> Principal:
    """Authenticate, then check `permission` (Forbidden when the principal lacks it)."""
    principal = await authenticate(request, metered=metered)
    if permission is not None:
        principal.require(permission)
    return principal


def client_ip(request: Request) -> str | None:
    """The client's address: the peer's, or, from a proxy listed in `server.forwarded_allow_ips`, the
    one its X-Forwarded-For names (uvicorn rewrites the peer)."""
    return request.client.host if request.client else None
