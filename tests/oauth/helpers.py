"""Driving the authorization server the way a browser and an OAuth client do, over HTTP."""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
from dataclasses import dataclass
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx

from smarthub_mcp.identity.users import create_user
from smarthub_mcp.services import Services

PASSWORD = "correct horse battery staple"
REDIRECT = "http://127.0.0.1:9/callback"
_CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")
    return verifier, challenge


async def make_person(services: Services, email: str | None = None, role: str = "user") -> tuple[str, str]:
    email = email or f"p{secrets.token_hex(4)}@example.com"
    user = await create_user(services, email, PASSWORD, role=role, email_verified=True)
    return user.id, email


async def register(client: httpx.AsyncClient, redirect_uri: str = REDIRECT, **extra: object) -> dict:
    body = {"redirect_uris": [redirect_uri], "client_name": "Test app", "token_endpoint_auth_method": "none",
            "grant_types": ["authorization_code", "refresh_token"], **extra}
    response = await client.post("/register", json=body)
    assert response.status_code == 201, response.text
    return response.json()


def csrf_of(page: str) -> str:
    found = _CSRF.search(page)
    assert found, page[:2000]
    return found.group(1)


def local(url: str) -> str:
    """The path and query of one of our own absolute URLs (the test client talks to the app directly)."""
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def query_of(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


@dataclass
class Authorized:
    code: str
    verifier: str
    params: dict[str, str]


async def authorize(
    client: httpx.AsyncClient, client_id: str, email: str, *, redirect_uri: str = REDIRECT,
    decision: str = "approve", verifier: str | None = None, use_pkce: bool = True, **extra: str,
) -> Authorized:
    """Through /authorize, the sign-in page (if no session yet) and the consent page; the redirect back."""
    verifier_value, challenge = pkce() if verifier is None else (verifier, pkce_challenge(verifier))
    params = {"response_type": "code", "client_id": client_id, "redirect_uri": redirect_uri,
              "state": secrets.token_urlsafe(8), **extra}
    if use_pkce:
        params.update(code_challenge=challenge, code_challenge_method="S256")
    answer = await client.get("/authorize?" + urlencode(params))
    assert answer.status_code == 303, answer.text
    consent_url = local(answer.headers["location"])
    shown = await client.get(consent_url)
    assert shown.status_code == 200, shown.text
    if 'name="password"' in shown.text:
        request_id = query_of(consent_url)["request"]
        signed = await client.post("/oauth/signin", data={
            "request": request_id, "csrf": csrf_of(shown.text), "email": email, "password": PASSWORD})
        assert signed.status_code == 303, signed.text
        shown = await client.get(consent_url)
    assert "Allow" in shown.text, shown.text
    decided = await client.post("/oauth/consent", data={
        "request": query_of(consent_url)["request"], "csrf": csrf_of(shown.text), "decision": decision})
    assert decided.status_code == 303, decided.text
    back = query_of(decided.headers["location"])
    assert back["state"] == params["state"]
    return Authorized(back.get("code", ""), verifier_value, back)


def pkce_challenge(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")


async def exchange(client: httpx.AsyncClient, client_id: str, done: Authorized, **extra: str) -> httpx.Response:
    data = {"grant_type": "authorization_code", "code": done.code, "redirect_uri": REDIRECT,
            "client_id": client_id, "code_verifier": done.verifier, **extra}
    return await client.post("/token", data={k: v for k, v in data.items() if v is not None})
