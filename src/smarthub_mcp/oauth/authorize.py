"""Checking an authorization request (RFC 6749 §4.1.1, OAuth 2.1, RFC 8707, RFC 9207).

Until the client and its redirect URI are known good, a refusal is shown to the person
(AuthorizationRefused): redirecting to an unchecked URI would make us an open redirector. After
that, refusals go back to the client as `error` parameters, with `state` and `iss` like every
authorization response.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from pydantic import AnyHttpUrl

from smarthub_mcp.oauth import cimd
from smarthub_mcp.oauth.access import resources
from smarthub_mcp.oauth.clients import Client, get_client
from smarthub_mcp.oauth.errors import AuthorizationRefused
from smarthub_mcp.oauth.requests import AuthorizationRequest
from smarthub_mcp.oauth.scopes import UnknownScope, parse_scopes
from smarthub_mcp.services import Services

_CHALLENGE = re.compile(r"^[A-Za-z0-9_-]{43}$")  # base64url of a sha256, unpadded
MAX_STATE_CHARS = 500


class RedirectableError(Exception):
    """A refusal that goes back to the client's (checked) redirect URI."""

    def __init__(self, redirect_uri: str, state: str | None, error: str, description: str) -> None:
        super().__init__(description)
        self.redirect_uri, self.state, self.error, self.description = redirect_uri, state, error, description


def issuer(services: Services) -> str:
    """The issuer identifier exactly as the metadata renders it (RFC 9207 compares strings)."""
    return str(AnyHttpUrl(services.settings.server.public_base_url))


def response_url(redirect_uri: str, params: Mapping[str, str | None]) -> str:
    """`redirect_uri` with the response parameters added to its query (keeping its own)."""
    parts = urlsplit(redirect_uri)
    query = parse_qsl(parts.query, keep_blank_values=True)
    query += [(k, v) for k, v in params.items() if v is not None]
    return urlunsplit(parts._replace(query=urlencode(query)))


def error_url(services: Services, error: RedirectableError) -> str:
    return response_url(error.redirect_uri, {"error": error.error, "error_description": error.description,
                                             "state": error.state, "iss": issuer(services)})


async def check_client(services: Services, client_id: str, *, ip: str | None = None) -> Client:
    if not client_id:
        raise AuthorizationRefused("The request names no client (client_id is missing).")
    try:
        client = await get_client(services, client_id, ip=ip)
    except cimd.DocumentRefused as exc:
        raise AuthorizationRefused(f"The app's client metadata cannot be used: {exc}.") from None
    if client is None:
        raise AuthorizationRefused("This app is not known to SmartHub, or has been disabled.")
    return client


async def check_request(services: Services, params: Mapping[str, str], *,
                        ip: str | None = None) -> tuple[Client, AuthorizationRequest]:
    """The client and the checked request; AuthorizationRefused or RedirectableError otherwise.
    `ip`: the requester's address (a metadata document fetched for it counts against it)."""
    client = await check_client(services, params.get("client_id", ""), ip=ip)
    asked = params.get("redirect_uri") or None
    redirect_uri = client.redirect_uri_for(asked)
    if redirect_uri is None:
        raise AuthorizationRefused("The app's redirect URI is not one it registered: SmartHub will not send you there.")
    state = params.get("state") or None
    if state is not None and len(state) > MAX_STATE_CHARS:
        raise RedirectableError(redirect_uri, None, "invalid_request", "state is too long")

    def refuse(error: str, description: str) -> RedirectableError:
        return RedirectableError(redirect_uri, state, error, description)

    if params.get("response_type") != "code":
        raise refuse("unsupported_response_type", "only response_type=code is supported")
    challenge = params.get("code_challenge") or None
    method = params.get("code_challenge_method") or ("S256" if challenge else None)
    if challenge is None:
        # PKCE is required, except for a confidential client an operator made (a Custom GPT action,
        # which sends none): it proves itself with its secret at the token endpoint, where the code
        # is worthless to anyone else. Self-registered clients always use PKCE.
        if not (client.confidential and client.kind in ("admin", "config")):
            raise refuse("invalid_request", "code_challenge is required (PKCE with S256)")
    elif method != "S256":
        raise refuse("invalid_request", "code_challenge_method must be S256")
    elif not _CHALLENGE.match(challenge):
        raise refuse("invalid_request", "code_challenge must be the base64url SHA-256 of the verifier")
    try:
        scopes = parse_scopes(params.get("scope"), client.scopes)
    except UnknownScope as exc:
        raise refuse("invalid_scope", f"unknown or not allowed for this app: {exc}") from None
    if not scopes:
        raise refuse("invalid_scope", "no scope this app may have was asked for")
    known = resources(services)
    resource = params.get("resource") or None
    if resource is not None and resource.rstrip("/") not in known:
        raise refuse("invalid_target", "the resource is not served by this server")
    audience = resource.rstrip("/") if resource else " ".join(known)
    return client, AuthorizationRequest(client.client_id, redirect_uri, asked is not None, scopes, audience,
                                        state, challenge)
