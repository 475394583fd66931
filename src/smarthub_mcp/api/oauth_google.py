"""`/oauth/google/start` and `/oauth/google/callback`: the "Sign in with Google" button of the sign-in page.

What the callback must check (the state, the nonce and the PKCE verifier of this attempt) rides in
a short-lived cookie signed with the server's key, so any replica can finish what another began;
it is bound to the authorization request the person came from, and cleared once used.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from smarthub_mcp.api import csrf
from smarthub_mcp.api.html import error_page, paragraph
from smarthub_mcp.api.oauth_pages import NO_STORE, SIGN_IN_TITLE, start_browser_session
from smarthub_mcp.errors import SmartHubError
from smarthub_mcp.oauth import google
from smarthub_mcp.oauth.errors import AuthorizationExpired
from smarthub_mcp.oauth.requests import load_request
from smarthub_mcp.services import Services

COOKIE_NAME = "smarthub_google"
COOKIE_PATH = "/oauth/google"
COOKIE_SECONDS = 600


def _services(request: Request) -> Services:
    return request.app.state.services


def _sign(services: Services, payload: bytes) -> str:
    key = hashlib.sha256(b"smarthub-google:" + services.identity.codec.keys.secret_material()).digest()
    return hmac.new(key, payload, hashlib.sha256).hexdigest()


def _seal(services: Services, data: dict[str, str]) -> str:
    payload = base64.urlsafe_b64encode(json.dumps(data, separators=(",", ":")).encode())
    return f"{payload.decode()}.{_sign(services, payload)}"


def _open(services: Services, value: str) -> dict[str, str] | None:
    payload, _, signature = value.rpartition(".")
    if not payload or not hmac.compare_digest(_sign(services, payload.encode()), signature):
        return None
    try:
        data = json.loads(base64.urlsafe_b64decode(payload))
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def refused(exc: SmartHubError) -> Response:
    return error_page(SIGN_IN_TITLE, exc, more=paragraph("Go back to your app and connect again."))


async def start(request: Request) -> Response:
    services = _services(request)
    request_id = request.query_params.get("request", "")
    try:
        if not google.enabled(services):
            raise google.GoogleSignInFailed("Sign-in with Google is not set up on this server.")
        if await load_request(services, request_id) is None:
            raise AuthorizationExpired()
        started = await google.start(services)
    except SmartHubError as exc:
        return refused(exc)
    response = RedirectResponse(started.url, status_code=303, headers=NO_STORE)
    sealed = _seal(services, {"s": started.state, "n": started.nonce, "v": started.verifier, "r": request_id})
    response.set_cookie(COOKIE_NAME, sealed, max_age=COOKIE_SECONDS, httponly=True, samesite="lax",
                        secure=csrf.secure_cookies(services), path=COOKIE_PATH)
    return response


async def callback(request: Request) -> Response:
    services = _services(request)
    saved = _open(services, request.cookies.get(COOKIE_NAME, ""))
    state, code = request.query_params.get("state", ""), request.query_params.get("code", "")
    try:
        if saved is None or not state or not hmac.compare_digest(saved.get("s", ""), state):
            raise google.GoogleSignInFailed("This Google sign-in was not started here, or has expired; start again.")
        if request.query_params.get("error") or not code:
            raise google.GoogleSignInFailed("Google sign-in was cancelled.")
        if await load_request(services, saved["r"]) is None:
            raise AuthorizationExpired()
        claims = await google.finish(services, code, saved["v"], saved["n"])
        user_id = await google.user_for(services, claims)
    except SmartHubError as exc:
        response = refused(exc)
        response.delete_cookie(COOKIE_NAME, path=COOKIE_PATH)
        return response
    response = await start_browser_session(services, user_id, saved["r"])
    response.delete_cookie(COOKIE_NAME, path=COOKIE_PATH)
    return response


routes = [
    Route("/oauth/google/start", start, methods=["GET"]),
    Route("/oauth/google/callback", callback, methods=["GET"]),
]
