"""CSRF protection for pages that act for a signed-in browser (the OAuth sign-in and consent forms).

The browser gets a random cookie (`smarthub_csrf`, HttpOnly, SameSite=Lax); each form carries
HMAC(key, cookie | purpose), where purpose ties the token to one form (the authorization request's
id). Another site can make the browser send the cookie but can neither read it nor compute the
token, so its forged POST is refused. The key is derived from the server's signing material.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from starlette.requests import Request
from starlette.responses import Response

from smarthub_mcp.services import Services

COOKIE_NAME = "smarthub_csrf"


def _key(services: Services) -> bytes:
    return hashlib.sha256(b"smarthub-csrf:" + services.identity.codec.keys.secret_material()).digest()


def secure_cookies(services: Services) -> bool:
    return services.settings.server.public_base_url.startswith("https://")


def browser_value(request: Request) -> tuple[str, bool]:
    """The browser's CSRF cookie, or a new one (True: it must be set on the response)."""
    value = request.cookies.get(COOKIE_NAME, "")
    if 20 <= len(value) <= 100:
        return value, False
    return secrets.token_urlsafe(24), True


def token_for(services: Services, cookie: str, purpose: str) -> str:
    return hmac.new(_key(services), f"{cookie}|{purpose}".encode(), hashlib.sha256).hexdigest()


def token_ok(services: Services, request: Request, purpose: str, presented: str) -> bool:
    cookie = request.cookies.get(COOKIE_NAME, "")
    if not cookie or not presented:
        return False
    return hmac.compare_digest(token_for(services, cookie, purpose), presented)


def set_cookie(response: Response, services: Services, value: str) -> None:
    response.set_cookie(COOKIE_NAME, value, httponly=True, samesite="lax", secure=secure_cookies(services), path="/")
