"""The authorization server's machine endpoints: metadata, /authorize, /token, /revoke, /register.

/authorize checks the request and hands the person to the sign-in and consent pages
(`oauth_pages.py`); the others speak OAuth's JSON (RFC 6749 §5.2 errors, not our error shape,
since OAuth clients read those). Browser-based clients (the MCP Inspector) call /token, /revoke,
/register and the metadata cross-origin, so those answer CORS; /authorize is navigated to, never fetched.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route, request_response
from starlette.types import ASGIApp, Message

from smarthub_mcp.api.authn import client_ip
from smarthub_mcp.api.body import read_body
from smarthub_mcp.api.html import error_page, read_form
from smarthub_mcp.errors import SmartHubError
from smarthub_mcp.oauth import token as token_rules
from smarthub_mcp.oauth.authorize import RedirectableError, check_request, error_url
from smarthub_mcp.oauth.grants import GrantRefused
from smarthub_mcp.oauth.metadata import authorization_server_metadata, protected_resource_metadata
from smarthub_mcp.oauth.registration import registration_handler
from smarthub_mcp.oauth.requests import save_request
from smarthub_mcp.services import Services

NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
PUBLIC = {"Cache-Control": "public, max-age=300"}
TOKEN_FIELDS = ("grant_type", "code", "redirect_uri", "code_verifier", "client_id", "client_secret",
                "refresh_token", "scope", "resource")
REVOKE_FIELDS = ("token", "token_type_hint", "client_id", "client_secret")
AUTHORIZE_FIELDS = ("client_id", "redirect_uri", "response_type", "code_challenge", "code_challenge_method",
                    "state", "scope", "resource")
AUTHORIZE_TITLE = "Cannot connect this app"
FORM_LIMIT = 16_384


def _services(request: Request) -> Services:
    return request.app.state.services


def _cors(handler: Any, methods: list[str]) -> ASGIApp:
    return CORSMiddleware(request_response(handler), allow_origins=["*"], allow_methods=methods,
                          allow_headers=["mcp-protocol-version", "authorization", "content-type"])


def oauth_error(error: str, description: str, status: int = 400, *,
                more_headers: Mapping[str, str] | None = None) -> JSONResponse:
    headers = {**NO_STORE, **(more_headers or {})}  # Retry-After, for a 429 or 503
    if status == 401:
        headers["WWW-Authenticate"] = 'Basic realm="smarthub"'
    return JSONResponse({"error": error, "error_description": description}, status_code=status, headers=headers)


async def as_metadata(request: Request) -> JSONResponse:
    return JSONResponse(authorization_server_metadata(_services(request)), headers=PUBLIC)


async def pr_metadata(request: Request) -> JSONResponse:
    return JSONResponse(protected_resource_metadata(_services(request)), headers=PUBLIC)


async def authorize(request: Request) -> Response:
    services = _services(request)
    try:
        if request.method == "POST":
            params = await read_form(request, AUTHORIZE_FIELDS, max_bytes=FORM_LIMIT)
        else:
            params = {k: request.query_params.get(k, "") for k in AUTHORIZE_FIELDS}
        _client, checked = await check_request(services, params, ip=client_ip(request))
        request_id = await save_request(services, checked)
    except RedirectableError as exc:
        return RedirectResponse(error_url(services, exc), status_code=303, headers=NO_STORE)
    except SmartHubError as exc:
        return error_page(AUTHORIZE_TITLE, exc)
    base = services.settings.server.public_base_url.rstrip("/")
    return RedirectResponse(f"{base}/oauth/consent?request={request_id}", status_code=303, headers=NO_STORE)


async def _oauth_form(request: Request, fields: tuple[str, ...]) -> dict[str, str]:
    return await read_form(request, fields, max_bytes=FORM_LIMIT)


async def token(request: Request) -> Response:
    try:
        form = await _oauth_form(request, TOKEN_FIELDS)
        body = await token_rules.exchange(_services(request), form, request.headers.get("authorization", ""),
                                          ip=client_ip(request))
    except token_rules.ClientRefused as exc:
        return oauth_error("invalid_client", str(exc), 401)
    except GrantRefused as exc:
        return oauth_error(exc.error, exc.description)
    except SmartHubError as exc:  # the form could not be read (413, 415 or 400), or a 429 or 503
        return oauth_error("invalid_request", exc.message, exc.status, more_headers=exc.headers)
    return JSONResponse(body, headers=NO_STORE)


async def revoke(request: Request) -> Response:
    try:
        form = await _oauth_form(request, REVOKE_FIELDS)
        await token_rules.revoke(_services(request), form, request.headers.get("authorization", ""),
                                 ip=client_ip(request))
    except token_rules.ClientRefused as exc:
        return oauth_error("invalid_client", str(exc), 401)
    except SmartHubError as exc:  # the form could not be read (413, 415 or 400), or a 429 or 503
        return oauth_error("invalid_request", exc.message, exc.status, more_headers=exc.headers)
    return Response(status_code=200, headers=NO_STORE)


async def register(request: Request) -> Response:
    services = _services(request)
    if not services.settings.oauth.registration_enabled:
        return oauth_error("invalid_request", "dynamic client registration is turned off", 404)
    ip = client_ip(request)
    limit = services.settings.oauth.registrations_per_ip_per_hour
    try:
        wait = await services.rate_limiter.hit_hourly("oauth-register", limit, ip) if ip else None
    except SmartHubError as exc:  # the limiter's store is down: it fails closed
        return oauth_error("temporarily_unavailable", exc.message, exc.status)
    if wait:
        answer = oauth_error("slow_down", f"too many registrations from your network; retry in {int(wait + 0.999)} s",
                             429)
        answer.headers["Retry-After"] = str(int(wait + 0.999))
        return answer
    try:  # read within the limit here: the SDK's handler would read any size
        raw = await read_body(request, FORM_LIMIT)
    except SmartHubError as exc:
        return oauth_error("invalid_request", exc.message, exc.status)

    async def replay() -> Message:
        return {"type": "http.request", "body": raw, "more_body": False}

    return await registration_handler(services).handle(Request(request.scope, replay))


def routes(services: Services) -> list[BaseRoute]:
    if not services.settings.oauth.enabled:
        return []
    return [
        Route("/.well-known/oauth-authorization-server", _cors(as_metadata, ["GET", "OPTIONS"]),
              methods=["GET", "OPTIONS"]),
        Route("/.well-known/oauth-protected-resource/mcp", _cors(pr_metadata, ["GET", "OPTIONS"]),
              methods=["GET", "OPTIONS"]),
        Route("/authorize", authorize, methods=["GET", "POST"]),
        Route("/token", _cors(token, ["POST", "OPTIONS"]), methods=["POST", "OPTIONS"]),
        Route("/revoke", _cors(revoke, ["POST", "OPTIONS"]), methods=["POST", "OPTIONS"]),
        Route("/register", _cors(register, ["POST", "OPTIONS"]), methods=["POST", "OPTIONS"]),
    ]
