"""The token endpoint's rules (RFC 6749 §3.2, §4.1.3, §6; OAuth 2.1; RFC 7636; RFC 8707).

Client authentication: a confidential client sends its secret in the form body
(`client_secret_post`) or an `Authorization: Basic` header (`client_secret_basic`), whichever it
likes; a public client sends only its `client_id`. A failure is `invalid_client` (401), which is
also what makes Claude register again.

PKCE: a code made with a challenge needs the matching verifier. A code made without one (only a
confidential client may ask for that) is redeemed only by that client authenticated with its
secret, and a verifier sent for it is refused (a downgrade attempt).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping
from typing import Any

from smarthub_mcp.oauth import cimd, grants
from smarthub_mcp.oauth.clients import Client, basic_credentials, get_client
from smarthub_mcp.oauth.grants import GrantRefused
from smarthub_mcp.oauth.scopes import UnknownScope, parse_scopes
from smarthub_mcp.services import Services


class ClientRefused(Exception):
    """invalid_client (401)."""


async def authenticate_client(
    services: Services, form: Mapping[str, str], authorization: str, *, ip: str | None = None
) -> tuple[Client, bool]:
    """The client and whether it proved itself with its secret; ClientRefused otherwise."""
    basic = basic_credentials(authorization)
    client_id = form.get("client_id") or ""
    secret = form.get("client_secret") or None
    if basic is not None:
        if client_id and client_id != basic[0]:
            raise ClientRefused("client_id differs from the Basic credentials")
        client_id, secret = basic
    try:
        client = await get_client(services, client_id, ip=ip) if client_id else None
    except cimd.DocumentRefused:  # a metadata document that cannot be used now: neither can the client
        client = None
    if client is None:
        raise ClientRefused("unknown or disabled client")
    if client.confidential:
        if not client.check_secret(secret):
            raise ClientRefused("client authentication failed")
        return client, True
    return client, False


def pkce_matches(verifier: str, challenge: str) -> bool:
    if not 43 <= len(verifier) <= 128:
        return False
    digest = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")
    return hmac.compare_digest(digest, challenge)


def check_resource(form: Mapping[str, str], audience: str) -> None:
    """A `resource` sent with a token request must be one the grant was made for (RFC 8707 §2.2)."""
    resource = (form.get("resource") or "").rstrip("/")
    if resource and resource not in audience.split():
        raise GrantRefused("invalid_target", "the resource differs from the one authorized")


def check_code_use(code: grants.CodeGrant, form: Mapping[str, str], authenticated: bool) -> None:
    if code.redirect_uri and form.get("redirect_uri") != code.redirect_uri:
        raise GrantRefused("invalid_grant", "redirect_uri differs from the one in the authorization request")
    verifier = form.get("code_verifier") or ""
    if code.code_challenge is not None:
        if not pkce_matches(verifier, code.code_challenge):
            raise GrantRefused("invalid_grant", "the code_verifier does not match the code_challenge")
    elif verifier or not authenticated:
        raise GrantRefused("invalid_grant", "this code was issued without PKCE; only its confidential client"
                           " authenticating with its secret may redeem it, without a code_verifier")
    check_resource(form, code.resource)


async def exchange(services: Services, form: Mapping[str, str], authorization: str, *,
                   ip: str | None = None) -> dict[str, Any]:
    """The token response for this request; ClientRefused or GrantRefused otherwise."""
    client, authenticated = await authenticate_client(services, form, authorization, ip=ip)
    grant_type = form.get("grant_type")
    if grant_type == "authorization_code":
        code = await grants.redeem_code(services, client.client_id, form.get("code") or "")
        try:
            check_code_use(code, form, authenticated)
        except GrantRefused:
            # The code is spent either way; its grant must not linger as a connected app with no tokens.
            async with services.db.write() as conn:
                await grants.revoke_grant(conn, code.grant_id)
            raise
        return await grants.tokens_for_code(services, code)
    if grant_type == "refresh_token":
        scopes = None
        if form.get("scope"):
            try:
                scopes = parse_scopes(form["scope"])
            except UnknownScope as exc:
                raise GrantRefused("invalid_scope", f"unknown scope: {exc}") from None
        return await grants.refresh(services, client.client_id, form.get("refresh_token") or "", scopes,
                                    form.get("resource") or "")
    raise GrantRefused("unsupported_grant_type", "grant_type must be authorization_code or refresh_token")


async def revoke(services: Services, form: Mapping[str, str], authorization: str, *,
                 ip: str | None = None) -> None:
    client, _ = await authenticate_client(services, form, authorization, ip=ip)
    token = form.get("token") or ""
    if token and len(token) <= 8192:
        await grants.revoke_token(services, client.client_id, token)
