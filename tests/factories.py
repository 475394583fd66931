"""Small builders for test data, written straight to the store."""

from __future__ import annotations

import secrets

from sqlalchemy import text

from smarthub_mcp.db import Database
from smarthub_mcp.ids import new_id, now_ms


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
