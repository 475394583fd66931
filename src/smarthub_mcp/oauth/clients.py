"""OAuth clients: where each comes from, how it is looked up, how it proves itself.

A client id is looked up in this order: the clients in config.toml; the `oauth_clients` table
(registered by DCR, made by an admin, or a cached metadata document); and, for an id that is an
https URL, its Client ID Metadata Document, fetched and cached in the table. A secret is stored
only as its sha256 (it is 256 random bits, nothing to brute-force) and compared in constant time.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

from sqlalchemy import text

from smarthub_mcp.config import OAuthClientConfig, OAuthConfig
from smarthub_mcp.errors import RateLimited
from smarthub_mcp.identity.sessions import hash_token
from smarthub_mcp.ids import now_ms
from smarthub_mcp.oauth import cimd
from smarthub_mcp.oauth.scopes import ALL_SCOPES
from smarthub_mcp.services import Services

SECRET_PREFIX = "shcs_"
_BAD_SCHEMES = frozenset({"javascript", "data", "file", "vbscript", "about", "blob", "ftp", "ws", "wss"})
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


@dataclass(frozen=True)
class Client:
    client_id: str
    kind: str  # config | dcr | cimd | admin
    name: str
    redirect_uris: tuple[str, ...]
    secret_hash: str | None
    scopes: tuple[str, ...]
    status: str = "active"

    @property
    def confidential(self) -> bool:
        return self.secret_hash is not None

    @property
    def host(self) -> str:
        """What the consent page names: the host that vouches for the client. For a metadata
        document that is its URL's host; otherwise where the codes go (its first redirect URI)."""
        source = self.client_id if self.kind == "cimd" else (self.redirect_uris[0] if self.redirect_uris else "")
        parts = urlsplit(source)
        return parts.hostname or parts.scheme or "unknown"

    def redirect_uri_for(self, asked: str | None) -> str | None:
        """The redirect URI to use: `asked` when registered exactly, the only one when none was asked."""
        if asked is None:
            return self.redirect_uris[0] if len(self.redirect_uris) == 1 else None
        return asked if asked in self.redirect_uris else None

    def check_secret(self, presented: str | None) -> bool:
        if self.secret_hash is None or not presented:
            return False
        return hmac.compare_digest(self.secret_hash, hash_token(presented))


def redirect_uri_refusal(uri: str) -> str | None:
    """Why `uri` cannot be a redirect URI, or None: https, http on loopback (RFC 8252), or an app's
    own scheme; never a fragment, and never a scheme a browser would run or read from."""
    if len(uri) > 2000 or any(c.isspace() or c in "\"'<>;,\\" or ord(c) < 32 for c in uri):
        return "a redirect URI may not hold spaces, quotes or separators"
    parts = urlsplit(uri)
    if not parts.scheme or parts.fragment or "#" in uri:
        return "a redirect URI needs a scheme and no fragment"
    if parts.scheme in _BAD_SCHEMES:
        return f"the scheme {parts.scheme} cannot be a redirect URI"
    if parts.scheme == "http" and parts.hostname not in LOOPBACK_HOSTS:
        return "http redirect URIs are allowed only on loopback; use https"
    if parts.scheme in ("http", "https") and not parts.hostname:
        return "the redirect URI has no host"
    return None


def _scopes(raw: str | None) -> tuple[str, ...]:
    if not raw:
        return ALL_SCOPES
    asked = set(raw.split())
    return tuple(s for s in ALL_SCOPES if s in asked)


def from_config(entry: OAuthClientConfig, environ: dict[str, str]) -> Client:
    secret = environ.get(entry.secret_env) if entry.secret_env else None
    return Client(entry.client_id, "config", entry.client_name or entry.client_id, tuple(entry.redirect_uris),
                  hash_token(secret) if secret else None, _scopes(entry.scope))


def _from_row(row: Any) -> Client:
    meta = json.loads(row.metadata_json)
    return Client(row.client_id, row.kind, str(meta.get("client_name") or ""),
                  tuple(str(u) for u in meta.get("redirect_uris") or ()), row.secret_hash,
                  _scopes(meta.get("scope")), row.status)


async def get_client(services: Services, client_id: str, *, ip: str | None = None) -> Client | None:
    """The client with this id, or None (unknown, disabled, or a metadata document refused).
    `ip`: the requester's address, which a metadata document fetched for it is counted against."""
    client = await find_client(services, client_id, ip=ip)
    return client if client is not None and client.status == "active" else None


async def find_client(services: Services, client_id: str, *, ip: str | None = None,
                      fetch: bool = True) -> Client | None:
    """The client with this id, whatever its status; None when unknown. A metadata document is
    fetched when it is new or its cache time ran out, unless `fetch` is False (pages that follow an
    authorization request use the document checked when the request was made)."""
    settings = services.settings.oauth
    if not client_id or len(client_id) > cimd.MAX_URL_CHARS:
        return None
    for entry in settings.clients:
        if entry.client_id == client_id:
            return from_config(entry, services.config.environ)
    row = await services.db.fetch_one(
        "SELECT client_id, kind, metadata_json, secret_hash, status, expires_at FROM oauth_clients"
        " WHERE client_id = :c", {"c": client_id},
    )
    if row is not None and (not fetch or row.kind != "cimd" or row.status != "active"
                            or (row.expires_at or 0) > now_ms()):
        return _from_row(row)
    if fetch and settings.metadata_documents_enabled and cimd.looks_like_document_url(client_id):
        if row is None:  # a document seen before is re-fetched for free, however short its cache time
            await _count_fetch(services, ip)
        return await load_document_client(services, client_id)
    return None


async def _count_fetch(services: Services, ip: str | None) -> None:
    """A fetch is the server reaching out to a URL a stranger chose: at most so many an hour for
    one network address (RateLimited beyond; the limiter fails closed as for every other count)."""
    limit = services.settings.oauth.metadata_document_fetches_per_ip_per_hour
    wait = await services.rate_limiter.hit_hourly("oauth-cimd", limit, ip) if ip else None
    if wait:
        raise RateLimited(f"Too many client metadata documents fetched for your network; retry in"
                          f" {int(wait + 0.999)} s", retry_after=wait)


async def load_document_client(services: Services, url: str) -> Client:
    """Fetch (or re-fetch) a metadata document and cache it; DocumentRefused when unusable."""
    settings: OAuthConfig = services.settings.oauth
    fetched = await cimd.fetch_document(url, settings)
    for uri in fetched.metadata.get("redirect_uris") or ():
        refusal = redirect_uri_refusal(str(uri))
        if refusal:
            raise cimd.DocumentRefused(refusal)
    now = now_ms()
    params = {"c": url, "m": json.dumps(fetched.metadata), "now": now, "exp": now + fetched.cache_seconds * 1000}
    async with services.db.write() as conn:
        await conn.execute(text(
            "INSERT INTO oauth_clients (client_id, kind, metadata_json, status, created_at, updated_at, expires_at)"
            " VALUES (:c, 'cimd', :m, 'active', :now, :now, :exp)"
            " ON CONFLICT (client_id) DO UPDATE SET metadata_json = :m, updated_at = :now, expires_at = :exp"
            " WHERE oauth_clients.kind = 'cimd'"), params)
    client = await find_client_row(services, url)
    if client is None:
        raise cimd.DocumentRefused("the client could not be stored")
    return client


async def find_client_row(services: Services, client_id: str) -> Client | None:
    row = await services.db.fetch_one(
        "SELECT client_id, kind, metadata_json, secret_hash, status FROM oauth_clients WHERE client_id = :c",
        {"c": client_id},
    )
    return _from_row(row) if row is not None else None


def new_secret() -> str:
    return SECRET_PREFIX + secrets.token_urlsafe(32)


async def store_client(
    services: Services, client_id: str, kind: str, metadata: dict[str, Any], secret: str | None,
    created_by: str | None = None,
) -> None:
    now = now_ms()
    async with services.db.write() as conn:
        await conn.execute(text(
            "INSERT INTO oauth_clients (client_id, kind, metadata_json, secret_hash, status, created_by,"
            " created_at, updated_at) VALUES (:c, :k, :m, :s, 'active', :by, :now, :now)"),
            {"c": client_id, "k": kind, "m": json.dumps(metadata), "s": hash_token(secret) if secret else None,
             "by": created_by, "now": now})


def basic_credentials(header: str) -> tuple[str, str] | None:
    """(client_id, secret) from an `Authorization: Basic` header (RFC 6749 §2.3.1), or None."""
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic" or not value:
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    client_id, sep, secret = decoded.partition(":")
    return (unquote(client_id), unquote(secret)) if sep else None
