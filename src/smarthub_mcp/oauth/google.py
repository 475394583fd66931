"""Sign in with Google (OpenID Connect) as the login step of our own /authorize.

authlib's OAuth client makes the authorization request (state, nonce and PKCE S256) and redeems the
code; the ID token is checked with joserfc (authlib's own JOSE library): signature against Google's
JWKS, issuer, audience (our client id), expiry and the nonce we sent. Only a verified email is
accepted. The Google account is then the user's: the one already linked to its subject, else the
account with that email (linked now: Google vouches for the address), else a new account.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from typing import Any

import httpx2
from authlib.integrations.httpx_client import AsyncOAuth2Client
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from sqlalchemy import text

from smarthub_mcp.errors import SmartHubError
from smarthub_mcp.identity.users import create_user, find_by_email, normalize_email, update_user
from smarthub_mcp.ids import now_ms
from smarthub_mcp.services import Services
from smarthub_mcp.tls import client_tls

PROVIDER = "google"
SCOPE = "openid email profile"
DISCOVERY_TTL_SECONDS = 3600
_discovered: dict[str, tuple[float, dict[str, Any]]] = {}  # a cache of public documents, per URL


class GoogleSignInFailed(SmartHubError):
    code = "google_sign_in_failed"
    status = 400


@dataclass(frozen=True)
class Started:
    url: str
    state: str
    nonce: str
    verifier: str


def enabled(services: Services) -> bool:
    return bool(services.secrets.google_client_id and services.secrets.google_client_secret)


def callback_url(services: Services) -> str:
    return services.settings.server.public_base_url.rstrip("/") + "/oauth/google/callback"


async def _get_json(url: str) -> dict[str, Any]:
    try:
        async with httpx2.AsyncClient(timeout=10, follow_redirects=False, verify=client_tls()) as http:
            response = await http.get(url)
        response.raise_for_status()
        data = response.json()
    except (httpx2.HTTPError, ValueError):
        raise GoogleSignInFailed("Google could not be reached; try again, or sign in with your password.") from None
    if not isinstance(data, dict):
        raise GoogleSignInFailed("Google answered something unexpected.")
    return data


async def discovery(services: Services) -> dict[str, Any]:
    url = services.settings.oauth.google_discovery_url
    cached = _discovered.get(url)
    if cached is None or cached[0] < time.monotonic():
        cached = (time.monotonic() + DISCOVERY_TTL_SECONDS, await _get_json(url))
        _discovered[url] = cached
    return cached[1]


def _client(services: Services) -> AsyncOAuth2Client:
    return AsyncOAuth2Client(client_id=services.secrets.google_client_id,
                             client_secret=services.secrets.google_client_secret, scope=SCOPE,
                             redirect_uri=callback_url(services), code_challenge_method="S256", timeout=10,
                             verify=client_tls())


async def start(services: Services) -> Started:
    meta = await discovery(services)
    verifier, nonce = secrets.token_urlsafe(48), secrets.token_urlsafe(16)
    async with _client(services) as client:
        url, state = client.create_authorization_url(meta["authorization_endpoint"], code_verifier=verifier,
                                                     nonce=nonce)
    return Started(url, state, nonce, verifier)


async def finish(services: Services, code: str, verifier: str, nonce: str) -> dict[str, Any]:
    """The checked ID token claims for this code; GoogleSignInFailed otherwise."""
    meta = await discovery(services)
    try:
        async with _client(services) as client:
            token = await client.fetch_token(meta["token_endpoint"], code=code, code_verifier=verifier)
    except Exception:  # authlib raises its own OAuthError, httpx errors, or JSON errors
        raise GoogleSignInFailed("Google did not accept the sign-in; start again.") from None
    id_token = token.get("id_token")
    if not isinstance(id_token, str):
        raise GoogleSignInFailed("Google sent no ID token.")
    published = await _get_json(meta["jwks_uri"])
    try:
        keys = KeySet.import_key_set(published)  # type: ignore[arg-type]
        decoded = jwt.decode(id_token, keys, algorithms=["RS256"])
        jwt.JWTClaimsRegistry(
            iss={"essential": True, "values": [meta["issuer"], "accounts.google.com"]},
            aud={"essential": True, "value": services.secrets.google_client_id or ""},
            nonce={"essential": True, "value": nonce},
            exp={"essential": True}, sub={"essential": True}, email={"essential": True},
        ).validate(decoded.claims)
    except (JoseError, ValueError):
        raise GoogleSignInFailed("Google's answer could not be verified; start again.") from None
    claims = dict(decoded.claims)
    if claims.get("email_verified") is not True:
        raise GoogleSignInFailed("This Google account's email address is not verified.")
    return claims


async def user_for(services: Services, claims: dict[str, Any]) -> str:
    """Our user for this Google account: linked already, else by verified email (linked now), else new."""
    subject, email = str(claims["sub"]), normalize_email(str(claims["email"]))
    linked = await services.db.fetch_one(
        "SELECT user_id FROM user_identities WHERE provider = :p AND subject = :s", {"p": PROVIDER, "s": subject})
    if linked is not None:
        return str(linked.user_id)
    async with services.db.read() as conn:
        row = await find_by_email(conn, email)
    if row is not None:
        user_id = str(row.id)
        if not row.email_verified:  # Google has just shown the address is theirs
            async with services.db.write() as conn:
                await update_user(conn, user_id, email_verified=True)
    else:
        user_id = (await create_user(services, email, None, display_name=str(claims.get("name") or "")[:100],
                                     email_verified=True)).id
    async with services.db.write() as conn:
        await conn.execute(text(
            "INSERT INTO user_identities (provider, subject, user_id, email, created_at) VALUES (:p, :s, :u, :e, :now)"
            " ON CONFLICT (provider, subject) DO NOTHING"),
            {"p": PROVIDER, "s": subject, "u": user_id, "e": email, "now": now_ms()})
    return user_id
