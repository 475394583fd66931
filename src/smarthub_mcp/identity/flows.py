"""Email-driven flows: address verification and password reset, plus password change.

Links carry a random token that is stored only as its sha256, expires, and works once (a
conditional update consumes it). `forgot-password` answers the same whether or not the email
has an account. A password change or reset ends every session of the user.
"""

from __future__ import annotations

import logging
import secrets
from urllib.parse import quote

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from smarthub_mcp.errors import RateLimited
from smarthub_mcp.identity import throttle
from smarthub_mcp.identity.email import send_email
from smarthub_mcp.identity.errors import InvalidEmail, InvalidEmailToken, WrongPassword
from smarthub_mcp.identity.passwords import check_policy, hash_password, verify_password
from smarthub_mcp.identity.principal import Principal
from smarthub_mcp.identity.sessions import TokenPair, end_all_sessions, hash_token, issue_pair
from smarthub_mcp.identity.users import (
    UserRecord,
    find_by_email,
    get_user,
    normalize_email,
    password_hash_of,
    update_user,
)
from smarthub_mcp.ids import new_id, now_ms
from smarthub_mcp.services import Services

log = logging.getLogger("smarthub.identity")

VERIFY, RESET = "verify_email", "reset_password"
MAX_TOKEN_CHARS = 200


async def _issue(conn: AsyncConnection, user_id: str, purpose: str, ttl_seconds: int) -> str:
    token = secrets.token_urlsafe(32)
    now = now_ms()
    # A new link leaves the earlier ones live (until used or expired): anyone may ask for a reset,
    # and voiding would let a stranger kill the link the owner is about to use. Using any one of
    # them voids the rest (`_consume`).
    await conn.execute(
        text(
            "INSERT INTO email_tokens (id, user_id, purpose, token_hash, expires_at, created_at)"
            " VALUES (:id, :u, :p, :h, :exp, :now)"
        ),
        {"id": new_id("etk"), "u": user_id, "p": purpose, "h": hash_token(token),
         "exp": now + ttl_seconds * 1000, "now": now},
    )
    return token


async def _consume(conn: AsyncConnection, token: str, purpose: str) -> str:
    """Mark the token used and return its user id; InvalidEmailToken when unknown, used or expired."""
    if not token or len(token) > MAX_TOKEN_CHARS:
        raise InvalidEmailToken("This link is invalid or has expired")
    now = now_ms()
    row = (
        await conn.execute(
            text(
                "UPDATE email_tokens SET used_at = :now WHERE token_hash = :h AND purpose = :p"
                " AND used_at IS NULL AND expires_at > :now RETURNING user_id"
            ),
            {"now": now, "h": hash_token(token), "p": purpose},
        )
    ).first()
    if row is None:
        raise InvalidEmailToken("This link is invalid or has expired")
    await conn.execute(
        text("UPDATE email_tokens SET used_at = :now WHERE user_id = :u AND purpose = :p AND used_at IS NULL"),
        {"now": now, "u": row.user_id, "p": purpose},
    )
    return row.user_id


async def check_reset_link(services: Services, token: str) -> None:
    """InvalidEmailToken when a reset token is unknown, used or expired; reads only (a page that
    shows the reset form asks this first, so a dead link says so before a password is typed)."""
    if not token or len(token) > MAX_TOKEN_CHARS:
        raise InvalidEmailToken("This link is invalid or has expired")
    row = await services.db.fetch_one(
        "SELECT 1 AS live FROM email_tokens WHERE token_hash = :h AND purpose = :p"
        " AND used_at IS NULL AND expires_at > :now",
        {"h": hash_token(token), "p": RESET, "now": now_ms()},
    )
    if row is None:
        raise InvalidEmailToken("This link is invalid or has expired")


def _link(services: Services, page: str, token: str) -> str:
    return f"{services.settings.server.public_base_url.rstrip('/')}/{page}?token={quote(token)}"


async def send_verification(services: Services, user: UserRecord) -> None:
    async with services.db.write() as conn:
        token = await _issue(conn, user.id, VERIFY, services.settings.auth.verification_ttl_seconds)
    link = _link(services, "verify-email", token)
    body = (
        f"Welcome to SmartHub.\n\nConfirm your email address by opening this link:\n\n{link}\n\n"
        f"Or send this token to POST /api/v1/auth/verify-email: {token}\n\n"
        "If you did not create an account, ignore this message."
    )
    await send_email(services, user.email, "Confirm your SmartHub email address", body, secrets=[token, quote(token)])


async def verify_email(services: Services, token: str) -> UserRecord:
    async with services.db.write() as conn:
        user_id = await _consume(conn, token, VERIFY)
        return await update_user(conn, user_id, email_verified=True)


async def resend_verification(services: Services, principal: Principal) -> bool:
    """Send a fresh link unless the address is already verified; True when one was sent. RateLimited
    past `auth.emails_per_address_per_hour`."""
    async with services.db.read() as conn:
        user = await get_user(conn, principal.user_id)
    if user.email_verified:
        return False
    wait = await _email_budget(services, user.email)
    if wait:
        raise RateLimited(f"Too many emails to this address; retry in {int(wait + 0.999)} s", retry_after=wait)
    await send_verification(services, user)
    return True


async def count_signup(services: Services, ip: str | None) -> None:
    """Count one sign-up from `ip` (RateLimited past `auth.signups_per_ip_per_hour`): every account
    gets the sign-up credits, so without a cap one client could farm them."""
    wait = ip and await services.rate_limiter.hit_hourly("signup", services.settings.auth.signups_per_ip_per_hour, ip)
    if wait:
        raise RateLimited(f"Too many sign-ups from your network; retry in {int(wait + 0.999)} s", retry_after=wait)


async def _email_budget(services: Services, address: str) -> float | None:
    """Count one email to `address`: None when it may go, else the seconds until one may. Anyone may
    ask for a reset email, so without a cap anyone could fill a user's inbox."""
    return await services.rate_limiter.hit_hourly(
        "email", services.settings.auth.emails_per_address_per_hour, address
    )


async def forgot_password(services: Services, email: str) -> None:
    """Email a reset link when the account exists and is active; silent otherwise."""
    try:
        normalized = normalize_email(email)
    except InvalidEmail:
        return
    async with services.db.read() as conn:
        row = await find_by_email(conn, normalized)
    if row is None or row.status != "active":
        return
    if await _email_budget(services, row.email):
        log.info("password reset for a user not sent: the address had its emails for this hour",
                 extra={"user_id": row.id})  # the answer was 202 either way
        return
    async with services.db.write() as conn:
        token = await _issue(conn, row.id, RESET, services.settings.auth.reset_ttl_seconds)
    link = _link(services, "reset-password", token)
    minutes = services.settings.auth.reset_ttl_seconds // 60
    body = (
        f"Someone asked to reset the password of your SmartHub account.\n\nChoose a new password here "
        f"(valid {minutes} minutes, once):\n\n{link}\n\nOr send this token with your new password to "
        f"POST /api/v1/auth/reset-password: {token}\n\nIf it was not you, ignore this message."
    )
    await send_email(services, row.email, "Reset your SmartHub password", body, secrets=[token, quote(token)])


async def reset_password(services: Services, token: str, new_password: str) -> int:
    """Set a new password with a reset token; every session ends and every API key is revoked (a
    reset is an account recovery: whoever held the account may have made keys). Also verifies the
    email (the link reached its inbox). Returns how many keys were revoked. A password *change*,
    made from inside the account, keeps the keys."""
    new_hash = await hash_password(check_policy(new_password, services.settings.auth.password_min_length))
    async with services.db.write() as conn:
        user_id = await _consume(conn, token, RESET)
        await update_user(conn, user_id, password_hash=new_hash, email_verified=True)
        await end_all_sessions(conn, user_id)
        revoked = await conn.execute(
            text("UPDATE api_keys SET revoked_at = :now WHERE user_id = :u AND revoked_at IS NULL"),
            {"now": now_ms(), "u": user_id},
        )
    return revoked.rowcount


async def change_password(services: Services, principal: Principal, current: str, new: str) -> TokenPair:
    """Check the current password, set the new one, end every session and start a fresh one."""
    normalized = check_policy(new, services.settings.auth.password_min_length)
    keys = throttle.buckets(principal.email, None)  # a stolen session must not be a password oracle
    await throttle.begin_attempt(services.db, keys, services.settings.auth)
    async with services.db.read() as conn:
        stored = await password_hash_of(conn, principal.user_id)
    if not await verify_password(stored, current):
        raise WrongPassword("the current password is wrong", details={"field": "current_password"})
    await throttle.succeeded(services.db, keys)
    new_hash = await hash_password(normalized)
    async with services.db.write() as conn:
        await update_user(conn, principal.user_id, password_hash=new_hash)
        await end_all_sessions(conn, principal.user_id)
        user = await get_user(conn, principal.user_id)
        return await issue_pair(conn, services, user)
