"""`/.well-known/jwks.json`: the public keys that verify our access tokens (empty for HS256)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse


async def jwks(request: Request) -> JSONResponse:
    document = request.app.state.services.identity.codec.jwks()
    return JSONResponse(document, headers={"Cache-Control": "public, max-age=300"})
