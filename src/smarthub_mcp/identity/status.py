"""Disabling and enabling an account (the admin API's PATCH and `smarthub users disable|enable`).

A disabled account cannot log in, and its keys and tokens are refused with `account_disabled`
(principals.py). Disabling also ends every session (refresh tokens, and access tokens through the
token generation), so enabling brings the keys back but not the old sessions: the user logs in again.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncConnection

from smarthub_mcp.errors import InvalidRequest
from smarthub_mcp.identity.sessions import end_all_sessions
from smarthub_mcp.identity.users import UserRecord, get_user, update_user

STATUSES = ("active", "disabled")


async def set_status(conn: AsyncConnection, user_id: str, status: str) -> tuple[UserRecord, UserRecord]:
    """Set the account's status inside the caller's transaction; returns (before, after). Setting the
    status it already has changes nothing (`before is after`)."""
    if status not in STATUSES:
        raise InvalidRequest(f"status must be one of {', '.join(STATUSES)}", details={"field": "status"})
    before = await get_user(conn, user_id)
    if before.status == status:
        return before, before
    after = await update_user(conn, user_id, status=status)
    if status == "disabled":
        await end_all_sessions(conn, user_id)
    return before, after
