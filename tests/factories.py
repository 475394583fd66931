"""Small builders for test data, written straight to the store."""

from __future__ import annotations

import secrets

from sqlalchemy import text

from smarthub_mcp.db import Database
from smarthub_mcp.ids import new_id, now_ms
from smarthub_mcp.services import Services


async def make_user(db: Database, email: str | None = None, role: str = "user") -> str:
    """Insert an active user row and return its id (no credit account, no password)."""
    user_id = new_id("usr")
    now = now_ms()
    async with db.write() as conn:
        await conn.execute(
            text(
                "INSERT INTO users (id, email, display_name, role, status, email_verified, created_at, updated_at)"
                " VALUES (:id, :email, '', :role, 'active', TRUE, :now, :now)"
            ),
            {"id": user_id, "email": email or f"u{secrets.token_hex(4)}@example.com", "role": role, "now": now},
        )
    return user_id


async def make_user_with_token(
    services: Services, email: str | None = None, role: str = "user", *, email_verified: bool = True
) -> tuple[str, str]:
    """Create a user the way registration does (user-created hooks run: the credit account exists),
    without a password, and return `(user_id, access_token)` for `Authorization: Bearer`."""
    from smarthub_mcp.identity.users import create_user

    user = await create_user(
        services, email or f"u{secrets.token_hex(4)}@example.com", None, role=role, email_verified=email_verified
    )
    return user.id, services.identity.codec.issue(user_id=user.id, role=user.role).token


async def make_api_key(services: Services, user_id: str, *, scopes: list[str] | None = None, name: str = "test") -> str:
    """An API key (`shk_...`) for an existing user."""
    from smarthub_mcp.identity.apikeys import create_key

    key, _info = await create_key(services, user_id, name=name, scopes=scopes)
    return key


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
