"""Sessions: login, token pairs, refresh-token rotation with reuse detection, logout.

A login starts a refresh-token *family*. Each refresh marks the presented token `used` and issues
its successor in the same family. Presenting a token that was already used means two parties hold
it (it leaked, or was replayed): the whole family is revoked, and the holder must log in again.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from smarthub_mcp.identity import throttle
from smarthub_mcp.identity.errors import AccountDisabled, InvalidCredentials, InvalidEmail, InvalidRefreshToken
from smarthub_mcp.identity.passwords import hash_password, needs_rehash, verify_password
from smarthub_mcp.identity.users import UserRecord, end_tokens, find_by_email, normalize_email, update_user
from smarthub_mcp.ids import new_id, now_ms
from smarthub_mcp.services import Services


def hash_token(value: str) -> str:
    """sha256 is enough for random tokens of 256 bits: nothing to brute-force."""
    return hashlib.sha256(value.encode()).hexdigest()


@dataclass(frozen=True)
class TokenPair:
    access_token: str
    refresh_token: str
    expires_in: int
    jti: str

    def to_json(self) -> dict[str, Any]:
        return {
            "access_token": self.access_token,
            "refresh_token": self.refresh_token,
            "token_type": "bearer",
            "expires_in": self.expires_in,
        }


async def _new_refresh(
    conn: AsyncConnection, services: Services, user_id: str, family_id: str, access_jti: str, access_ttl: int
) -> str:
    value = secrets.token_urlsafe(32)
    now = now_ms()
    auth = services.settings.auth
    await conn.execute(
        text(
            "INSERT INTO refresh_tokens (id, user_id, family_id, token_hash, status, expires_at, created_at,"
            " access_jti, access_expires_at) VALUES (:id, :u, :f, :h, 'active', :exp, :now, :j, :jexp)"
        ),
        {"id": new_id("rft"), "u": user_id, "f": family_id, "h": hash_token(value),
         "exp": now + auth.refresh_token_ttl_seconds * 1000, "now": now,
         "j": access_jti, "jexp": now + (access_ttl + auth.leeway_seconds) * 1000},
    )
    return value


async def issue_pair(
    conn: AsyncConnection, services: Services, user: UserRecord, family_id: str | None = None
) -> TokenPair:
    """An access token plus a refresh token (a new family unless one is given), in the caller's transaction."""
    scope = sorted(await services.identity.roles.permissions(user.role))
    access = services.identity.codec.issue(
        user_id=user.id, role=user.role, scope=scope, generation=user.token_generation
    )
    refresh = await _new_refresh(conn, services, user.id, family_id or new_id("fam"), access.jti, access.expires_in)
    return TokenPair(access.token, refresh, access.expires_in, access.jti)


async def login(services: Services, email: str, password: str, ip: str | None) -> tuple[UserRecord, TokenPair]:
    """Check the password under throttling; rehash when the parameters changed; start a session."""
    user = await check_password(services, email, password, ip)
    async with services.db.write() as conn:
        pair = await issue_pair(conn, services, user)
    return user, pair


async def check_password(services: Services, email: str, password: str, ip: str | None) -> UserRecord:
    """The active user with this email and password, under the login throttle (rehashing the
    password when the parameters changed); InvalidCredentials, AccountDisabled or a throttle error."""
    auth = services.settings.auth
    try:
        normalized = normalize_email(email)
    except InvalidEmail:
        normalized = email.strip().lower()[:320]  # still counted, and still answered the same way
    keys = throttle.buckets(normalized, ip)
    await throttle.begin_attempt(services.db, keys, auth)
    async with services.db.read() as conn:
        row = await find_by_email(conn, normalized)
    ok = await verify_password(row.password_hash if row else None, password)
    if not ok or row is None:
        raise InvalidCredentials()  # the attempt stays counted
    await throttle.succeeded(services.db, keys)
    user = UserRecord.from_row(row)
    if user.status != "active":
        raise AccountDisabled()
    if needs_rehash(row.password_hash):
        new_hash = await hash_password(password)
        async with services.db.write() as conn:
            await update_user(conn, user.id, password_hash=new_hash)
    return user


async def refresh(services: Services, presented: str) -> TokenPair:
    """Rotate a refresh token. A reused token revokes its family (committed) before the 401."""
    if not presented or len(presented) > 200:
        raise InvalidRefreshToken("Invalid refresh token")
    now = now_ms()
    reused = False
    async with services.db.write() as conn:
        row = (
            await conn.execute(
                text(
                    "SELECT r.id, r.family_id, r.status, r.expires_at, u.id AS user_id, u.email, u.display_name,"
                    " u.role, u.status AS user_status, u.email_verified, u.created_at, u.updated_at,"
                    " u.token_generation"
                    " FROM refresh_tokens r JOIN users u ON u.id = r.user_id WHERE r.token_hash = :h"
                ),
                {"h": hash_token(presented)},
            )
        ).first()
        if row is not None and row.status == "used":
            await revoke_family(conn, row.family_id)
            reused = True
        elif row is not None and row.status == "active" and row.expires_at > now and row.user_status == "active":
            claimed = await conn.execute(
                text("UPDATE refresh_tokens SET status = 'used', used_at = :now WHERE id = :id AND status = 'active'"),
                {"now": now, "id": row.id},
            )
            if claimed.rowcount == 1:
                user = UserRecord(row.user_id, row.email, row.display_name, row.role, row.user_status,
                                  bool(row.email_verified), row.created_at, row.updated_at, row.token_generation)
                return await issue_pair(conn, services, user, family_id=row.family_id)
    if reused:
        raise InvalidRefreshToken("This refresh token was already used; the session has been revoked")
    raise InvalidRefreshToken("Invalid refresh token")


async def revoke_family(conn: AsyncConnection, family_id: str) -> None:
    """Revoke every refresh token of the family and every access token issued with one of them."""
    await conn.execute(
        text("UPDATE refresh_tokens SET status = 'revoked' WHERE family_id = :f AND status <> 'revoked'"),
        {"f": family_id},
    )
    issued = await conn.execute(
        text("SELECT access_jti, user_id, access_expires_at FROM refresh_tokens"
             " WHERE family_id = :f AND access_jti IS NOT NULL AND access_expires_at > :now"),
        {"f": family_id, "now": now_ms()},
    )
    for jti, user_id, expires_at in issued.all():
        await revoke_jti(conn, jti, user_id, expires_at)


async def revoke_jti(conn: AsyncConnection, jti: str, user_id: str | None, expires_at_ms: int) -> None:
    now = now_ms()
    # A revocation matters only until its token expires: prune the ones that no longer can.
    await conn.execute(text("DELETE FROM revoked_tokens WHERE expires_at < :t"), {"t": now})
    await conn.execute(
        text(
            "INSERT INTO revoked_tokens (jti, user_id, expires_at, revoked_at) VALUES (:j, :u, :e, :now)"
            " ON CONFLICT (jti) DO NOTHING"
        ),
        {"j": jti, "u": user_id, "e": expires_at_ms, "now": now},
    )


async def logout(
    services: Services, user_id: str, jti: str | None, refresh_token: str | None, token_exp: int | None = None
) -> None:
    """Revoke the presented refresh token's family (if it is this user's) and the access token's jti.

    `token_exp` (epoch seconds) bounds how long the revocation must be kept."""
    leeway = services.settings.auth.leeway_seconds
    if token_exp is None:
        token_exp = now_ms() // 1000 + services.settings.auth.access_token_ttl_seconds
    expires = (token_exp + leeway) * 1000
    async with services.db.write() as conn:
        if refresh_token:
            row = (
                await conn.execute(
                    text("SELECT family_id FROM refresh_tokens WHERE token_hash = :h AND user_id = :u"),
                    {"h": hash_token(refresh_token), "u": user_id},
                )
            ).first()
            if row is not None:
                await revoke_family(conn, row.family_id)
        if jti:
            await revoke_jti(conn, jti, user_id, expires)


async def end_all_sessions(conn: AsyncConnection, user_id: str) -> None:
    """After a password change or reset, or disabling: void every refresh token and access token."""
    await conn.execute(
        text("UPDATE refresh_tokens SET status = 'revoked' WHERE user_id = :u AND status <> 'revoked'"),
        {"u": user_id},
    )
    await end_tokens(conn, user_id)
    # The browser sessions of the sign-in pages (identity/websessions.py) end with the rest.
    await conn.execute(
        text("UPDATE web_sessions SET revoked_at = :now WHERE user_id = :u AND revoked_at IS NULL"),
        {"u": user_id, "now": now_ms()},
    )
