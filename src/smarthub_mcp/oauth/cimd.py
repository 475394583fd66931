"""Client ID Metadata Documents: a client whose id is an https URL publishes its metadata there.

The fetch is the server reaching out to an address a stranger chose, so it is fenced: https only
(plain http and loopback only when `oauth.metadata_documents_allow_loopback`, for tests), no
userinfo or fragment, a path below the root; every address the host resolves to must be public
(no private, loopback, link-local, shared, reserved or multicast range); no redirects followed;
the body read up to `metadata_document_max_bytes` within `metadata_document_timeout_seconds`.
The document must name itself (`client_id` equal to the URL, character for character) and be a
public client (`token_endpoint_auth_method` none): it cannot hold a secret.

The host's addresses are checked before the request, and the address the connection reached is
checked again before anything is sent (netguard.connect_guard): a DNS answer that changes in
between (rebinding) is caught.
"""

from __future__ import annotations

import asyncio
import json
import re
import ssl
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx2
from mcp.shared.auth import OAuthClientMetadata
from pydantic import ValidationError

from smarthub_mcp.config import OAuthConfig
from smarthub_mcp.netguard import AddressRefused, connect_guard, resolves_publicly

MAX_URL_CHARS = 2000
_MAX_AGE = re.compile(r"max-age=(\d+)")


class DocumentRefused(Exception):
    """Why a metadata document cannot be used; the message is safe to show."""


@dataclass(frozen=True)
class FetchedDocument:
    metadata: dict[str, Any]
    cache_seconds: int


def looks_like_document_url(client_id: str) -> bool:
    return client_id.startswith(("https://", "http://"))


def check_url(url: str, settings: OAuthConfig) -> tuple[str, int]:
    """The host and port to resolve, or DocumentRefused."""
    if len(url) > MAX_URL_CHARS:
        raise DocumentRefused("the client id URL is too long")
    parts = urlsplit(url)
    allowed = ("https", "http") if settings.metadata_documents_allow_loopback else ("https",)
    if parts.scheme not in allowed:
        raise DocumentRefused("a client metadata document must be served over https")
    if parts.username is not None or parts.password is not None or parts.fragment or "#" in url:
        raise DocumentRefused("a client id URL may not carry credentials or a fragment")
    if not parts.hostname or parts.path in ("", "/"):
        raise DocumentRefused("a client id URL needs a host and a path")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise DocumentRefused("the client id URL has a bad port") from None
    return parts.hostname, port


async def check_addresses(host: str, port: int, settings: OAuthConfig) -> None:
    try:
        async with asyncio.timeout(settings.metadata_document_timeout_seconds):
            public = await resolves_publicly(host, port, allow_loopback=settings.metadata_documents_allow_loopback)
    except (OSError, TimeoutError):
        raise DocumentRefused("the client id URL's host could not be resolved") from None
    if not public:
        raise DocumentRefused("the client id URL points at a private or reserved address")


def _verify(settings: OAuthConfig) -> ssl.SSLContext | bool:
    if not settings.metadata_documents_ca_file:
        return True
    context = ssl.create_default_context()
    context.load_verify_locations(settings.metadata_documents_ca_file)
    return context


def _cache_seconds(cache_control: str, settings: OAuthConfig) -> int:
    value = cache_control.lower()
    if "no-store" in value or "no-cache" in value:
        return 0
    found = _MAX_AGE.search(value)
    limit = settings.metadata_document_cache_seconds
    return min(int(found.group(1)), limit) if found else limit


async def fetch_document(url: str, settings: OAuthConfig) -> FetchedDocument:
    """Fetch and check the document at `url` (the client id); DocumentRefused on any failure."""
    host, port = check_url(url, settings)
    await check_addresses(host, port, settings)
    cap = settings.metadata_document_max_bytes
    guard = connect_guard(allow_loopback=settings.metadata_documents_allow_loopback)
    try:
        async with (
            asyncio.timeout(settings.metadata_document_timeout_seconds),
            httpx2.AsyncClient(verify=_verify(settings), follow_redirects=False, trust_env=False) as http,
            http.stream("GET", url, headers={"Accept": "application/json"}, extensions=guard) as response,
        ):
            if response.status_code != 200:
                raise DocumentRefused(f"the client metadata document answered HTTP {response.status_code}")
            body = bytearray()
            async for chunk in response.aiter_bytes():
                body += chunk
                if len(body) > cap:
                    raise DocumentRefused(f"the client metadata document is larger than {cap} bytes")
            cache_control = response.headers.get("cache-control", "")
    except TimeoutError:
        raise DocumentRefused("the client metadata document took too long to fetch") from None
    except AddressRefused:
        raise DocumentRefused("the client id URL points at a private or reserved address") from None
    except httpx2.HTTPError:
        raise DocumentRefused("the client metadata document could not be fetched") from None
    return FetchedDocument(check_document(url, bytes(body)), _cache_seconds(cache_control, settings))


def check_document(url: str, body: bytes) -> dict[str, Any]:
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise DocumentRefused("the client metadata document is not JSON") from None
    if not isinstance(data, dict):
        raise DocumentRefused("the client metadata document is not a JSON object")
    if data.get("client_id") != url:
        raise DocumentRefused("the client metadata document's client_id is not its own URL")
    method = data.get("token_endpoint_auth_method") or "none"
    if method != "none" or "client_secret" in data:
        raise DocumentRefused("a client metadata document describes a public client (token_endpoint_auth_method none)")
    try:
        OAuthClientMetadata.model_validate({k: v for k, v in data.items() if k != "client_id"})
    except ValidationError:
        raise DocumentRefused("the client metadata document is not valid client metadata") from None
    return data
