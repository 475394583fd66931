"""The browser session: cookie `smarthub_session`, set by the sign-in page, read by every page.

The OAuth sign-in and consent pages set it, and the dashboard will use the same one. Its value is
256 random bits; only its sha256 is stored (`web_sessions`), so a copy of the database signs
nobody in. Attributes: HttpOnly, SameSite=Lax (sent on a top-level navigation from ChatGPT or
Claude to /authorize, never on a cross-site POST), Secure when the public URL is https, Path=/.
It ends at `oauth.session_ttl_seconds`, on sign-out, and with every other session of the user
when the password changes or the account is disabled (the user's `token_generation` moves).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from sqlalchemy import text

from smarthub_mcp.identity.principal import Principal
from smarthub_mcp.identity.sessions import hash_token
from smarthub_mcp.ids import now_ms
from smarthub_mcp.services import Services

COOKIE_NAME = "smarthub_session"


@dataclass(frozen=True)
class WebSession:
    user_id: str
    email: str
    expires_at: int  # epoch ms
    role: str = "user"
    email_verified: bool = False


async def start_session(services: Services, user_id: str) -> tuple[str, int]:
    """A new session for the user: (cookie value, lifetime in seconds)."""
    value = secrets.token_urlsafe(32)
    ttl = services.settings.oauth.session_ttl_seconds
    now = now_ms()
    async with services.db.write() as conn:
        await conn.execute(text("DELETE FROM web_sessions WHERE expires_at < :now"), {"now": now})
        await conn.execute(
            text("INSERT INTO web_sessions (token_hash, user_id, created_at, expires_at)"
                 " VALUES (:h, :u, :now, :exp)"),
            {"h": hash_token(value), "u": user_id, "now": now, "exp": now + ttl * 1000},
        )
    return value, ttl


async def session_user(services: Services, value: str | None) -> WebSession | None:
    """The signed-in user of a cookie value, or None (absent, unknown, expired, ended, user disabled)."""
    if not value or len(value) > 100:
        return None
    row = await services.db.fetch_one(
        "SELECT s.user_id, s.expires_at, s.revoked_at, s.created_at, u.email, u.status, u.updated_at, u.role,"
        " u.email_verified"
        " FROM web_sessions s JOIN users u ON u.id = s.user_id WHERE s.token_hash = :h",
        {"h": hash_token(value)},
    )
    if row is None or row.revoked_at is not None or row.expires_at <= now_ms() or row.status != "active":
        return None
    return WebSession(row.user_id, row.email, row.expires_at, row.role, bool(row.email_verified))


async def session_principal(services: Services, value: str | None) -> Principal | None:
    """The principal of a browser session (the dashboard's pages act as it), or None. Like a JWT
    from sign-in it carries the user's whole current role, unscoped."""
    session = await session_user(services, value)
    if session is None:
        return None
    return Principal(user_id=session.user_id, email=session.email, role=session.role,
                     permissions=await services.identity.roles.permissions(session.role), auth_method="web",
                     email_verified=session.email_verified)


async def end_session(services: Services, value: str) -> None:
    async with services.db.write() as conn:
        await conn.execute(text("UPDATE web_sessions SET revoked_at = :now WHERE token_hash = :h"),
                           {"now": now_ms(), "h": hash_token(value)})


async def end_user_sessions(services: Services, user_id: str) -> None:
    async with services.db.write() as conn:
        await conn.execute(text("UPDATE web_sessions SET revoked_at = :now WHERE user_id = :u AND revoked_at IS NULL"),
                           {"now": now_ms(), "u": user_id})
