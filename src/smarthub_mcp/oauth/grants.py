"""Grants, codes and tokens: what a person's approval turns into, and how it ends.

A grant is one approval of one client by one user: every code, access token and refresh token
made from it belongs to it, and revoking the grant ends them all at once (access tokens are
checked against it on every request). A code is single use: its second use revokes the grant
(RFC 6749 §4.1.2). Refresh tokens rotate; presenting one that was already used means two parties
hold it, and revokes the grant too.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from smarthub_mcp.identity.sessions import hash_token
from smarthub_mcp.identity.users import role_and_generation
from smarthub_mcp.ids import new_id, now_ms
from smarthub_mcp.oauth.requests import AuthorizationRequest
from smarthub_mcp.services import Services

GRANT_CLAIM = "gid"
CLIENT_CLAIM = "client_id"


class GrantRefused(Exception):
    """A token request that cannot be honoured: `error` is the OAuth error code."""

    def __init__(self, error: str, description: str) -> None:
        super().__init__(description)
        self.error = error
        self.description = description


@dataclass(frozen=True)
class CodeGrant:
    grant_id: str
    user_id: str
    client_id: str
    scopes: tuple[str, ...]
    resource: str
    redirect_uri: str
    code_challenge: str | None


async def create_code(services: Services, user_id: str, request: AuthorizationRequest) -> str:
    """A new grant and its authorization code (returned once; stored as a hash)."""
    code = secrets.token_urlsafe(32)
    now = now_ms()
    grant_id = new_id("grt")
    async with services.db.write() as conn:
        # Expired codes and refresh tokens can do nothing any more (reuse detection needs a used
        # token only while it could still be presented): pruned here, where new ones are made.
        await conn.execute(text("DELETE FROM oauth_codes WHERE expires_at < :now"), {"now": now})
        await conn.execute(text("DELETE FROM oauth_refresh_tokens WHERE expires_at < :now"), {"now": now})
        await conn.execute(text(
            "INSERT INTO oauth_grants (id, user_id, user_generation, client_id, scopes, resource, status, created_at)"
            " SELECT :id, :u, token_generation, :c, :s, :r, 'active', :now FROM users WHERE id = :u"),
            {"id": grant_id, "u": user_id, "c": request.client_id, "s": " ".join(request.scopes),
             "r": request.resource, "now": now})
        await conn.execute(text(
            "INSERT INTO oauth_codes (code_hash, grant_id, redirect_uri, code_challenge, expires_at)"
            " VALUES (:h, :g, :uri, :cc, :exp)"),
            {"h": hash_token(code), "g": grant_id, "uri": request.redirect_uri if request.redirect_uri_explicit else "",
             "cc": request.code_challenge, "exp": now + services.settings.oauth.code_ttl_seconds * 1000})
    return code


async def redeem_code(services: Services, client_id: str, code: str) -> CodeGrant:
    """Spend a code (compare-and-set). A spent code revokes its grant, committed before the refusal."""
    if not code or len(code) > 200:
        raise GrantRefused("invalid_grant", "the authorization code is not valid")
    now = now_ms()
    reused = False
    async with services.db.write() as conn:
        row = (await conn.execute(text(
            "SELECT c.grant_id, c.redirect_uri, c.code_challenge, c.expires_at, c.used_at,"
            " g.user_id, g.client_id, g.scopes, g.resource, g.status"
            " FROM oauth_codes c JOIN oauth_grants g ON g.id = c.grant_id WHERE c.code_hash = :h"),
            {"h": hash_token(code)})).first()
        if row is None or row.client_id != client_id:
            raise GrantRefused("invalid_grant", "the authorization code is not valid")
        if row.used_at is not None:
            await revoke_grant(conn, row.grant_id)
            reused = True
        elif row.expires_at > now and row.status == "active":
            spent = await conn.execute(
                text("UPDATE oauth_codes SET used_at = :now WHERE code_hash = :h AND used_at IS NULL"),
                {"now": now, "h": hash_token(code)})
            if spent.rowcount == 1:
                return CodeGrant(row.grant_id, row.user_id, row.client_id, tuple(row.scopes.split()), row.resource,
                                 row.redirect_uri, row.code_challenge)
    if reused:
        raise GrantRefused("invalid_grant", "the authorization code was already used; its grant is revoked")
    raise GrantRefused("invalid_grant", "the authorization code has expired")


async def revoke_grant(conn: AsyncConnection, grant_id: str) -> bool:
    now = now_ms()
    done = await conn.execute(
        text("UPDATE oauth_grants SET status = 'revoked', revoked_at = :now WHERE id = :g AND status = 'active'"),
        {"now": now, "g": grant_id})
    await conn.execute(text("UPDATE oauth_refresh_tokens SET status = 'revoked' WHERE grant_id = :g"
                            " AND status <> 'revoked'"), {"g": grant_id})
    return done.rowcount == 1


async def issue_tokens(conn: AsyncConnection, services: Services, grant: dict[str, Any]) -> dict[str, Any]:
    """An access token bound to the grant's resources, and a fresh refresh token, as the token response."""
    user = await role_and_generation(conn, grant["user_id"])
    if user is None:
        raise GrantRefused("invalid_grant", "the account no longer exists")
    settings = services.settings.oauth
    access = services.identity.codec.issue(
        user_id=grant["user_id"], role=user.role, scope=list(grant["scopes"]),
        ttl_seconds=settings.access_token_ttl_seconds, generation=user.token_generation,
        audience=grant["resource"].split(), extra={GRANT_CLAIM: grant["grant_id"], CLIENT_CLAIM: grant["client_id"]},
    )
    refresh = secrets.token_urlsafe(32)
    now = now_ms()
    await conn.execute(text(
        "INSERT INTO oauth_refresh_tokens (token_hash, grant_id, status, expires_at, created_at)"
        " VALUES (:h, :g, 'active', :exp, :now)"),
        {"h": hash_token(refresh), "g": grant["grant_id"], "exp": now + settings.refresh_token_ttl_seconds * 1000,
         "now": now})
    await conn.execute(text("UPDATE oauth_grants SET last_used_at = :now WHERE id = :g"),
                       {"now": now, "g": grant["grant_id"]})
    return {"access_token": access.token, "token_type": "Bearer", "expires_in": access.expires_in,
            "refresh_token": refresh, "scope": " ".join(grant["scopes"])}


async def tokens_for_code(services: Services, grant: CodeGrant) -> dict[str, Any]:
    async with services.db.write() as conn:
        return await issue_tokens(conn, services, {
            "grant_id": grant.grant_id, "user_id": grant.user_id, "client_id": grant.client_id,
            "scopes": grant.scopes, "resource": grant.resource})


async def refresh(
    services: Services, client_id: str, presented: str, scopes: tuple[str, ...] | None, resource: str = ""
) -> dict[str, Any]:
    """Rotate a refresh token; a reused one revokes its grant (committed) before the refusal. A
    `resource` must be one the grant was made for (RFC 8707 §2.2)."""
    if not presented or len(presented) > 200:
        raise GrantRefused("invalid_grant", "the refresh token is not valid")
    now = now_ms()
    reused = False
    async with services.db.write() as conn:
        row = (await conn.execute(text(
            "SELECT r.grant_id, r.status, r.expires_at, g.user_id, g.client_id, g.scopes, g.resource,"
            " g.status AS grant_status, g.user_generation = u.token_generation AND u.status = 'active' AS live"
            " FROM oauth_refresh_tokens r JOIN oauth_grants g ON g.id = r.grant_id JOIN users u ON u.id = g.user_id"
            " WHERE r.token_hash = :h"), {"h": hash_token(presented)})).first()
        if row is None or row.client_id != client_id:
            raise GrantRefused("invalid_grant", "the refresh token is not valid")
        granted = tuple(row.scopes.split())
        if scopes is not None and not set(scopes) <= set(granted):
            raise GrantRefused("invalid_scope", "a refresh cannot widen the scopes that were granted")
        if resource and resource.rstrip("/") not in row.resource.split():
            raise GrantRefused("invalid_target", "the resource differs from the one authorized")
        if row.status == "used":
            await revoke_grant(conn, row.grant_id)
            reused = True
        elif row.status == "active" and row.expires_at > now and row.grant_status == "active" and row.live:
            claimed = await conn.execute(text(
                "UPDATE oauth_refresh_tokens SET status = 'used', used_at = :now"
                " WHERE token_hash = :h AND status = 'active'"), {"now": now, "h": hash_token(presented)})
            if claimed.rowcount == 1:
                return await issue_tokens(conn, services, {
                    "grant_id": row.grant_id, "user_id": row.user_id, "client_id": row.client_id,
                    "scopes": scopes or granted, "resource": row.resource})
    if reused:
        raise GrantRefused("invalid_grant", "the refresh token was already used; its grant is revoked")
    raise GrantRefused("invalid_grant", "the refresh token has expired or was revoked")


async def revoke_token(services: Services, client_id: str, token: str) -> None:
    """RFC 7009: revoke the grant of a refresh or access token this client holds; unknown tokens are ignored."""
    grant_id: str | None = None
    row = await services.db.fetch_one(
        "SELECT r.grant_id, g.client_id FROM oauth_refresh_tokens r JOIN oauth_grants g ON g.id = r.grant_id"
        " WHERE r.token_hash = :h", {"h": hash_token(token)})
    if row is not None and row.client_id == client_id:
        grant_id = row.grant_id
    elif row is None:
        claims = services.identity.codec.peek(token)
        if claims and claims.get(CLIENT_CLAIM) == client_id and isinstance(claims.get(GRANT_CLAIM), str):
            grant_id = claims[GRANT_CLAIM]
    if grant_id is not None:
        async with services.db.write() as conn:
            await revoke_grant(conn, grant_id)


async def user_grants(services: Services, user_id: str) -> list[Any]:
    return await services.db.fetch(
        "SELECT g.id, g.client_id, g.scopes, g.resource, g.created_at, g.last_used_at, c.metadata_json"
        " FROM oauth_grants g JOIN users u ON u.id = g.user_id LEFT JOIN oauth_clients c ON c.client_id = g.client_id"
        " WHERE g.user_id = :u AND g.status = 'active' AND g.user_generation = u.token_generation"
        " ORDER BY g.created_at DESC", {"u": user_id})


async def revoke_user_grant(services: Services, user_id: str, grant_id: str) -> bool:
    async with services.db.write() as conn:
        owned = (await conn.execute(text("SELECT id FROM oauth_grants WHERE id = :g AND user_id = :u"),
                                    {"g": grant_id, "u": user_id})).first()
        return owned is not None and await revoke_grant(conn, grant_id)
