"""Users flagged by a payment dispute (`payment_flags`, written by billing/webhooks.py), as admins read them.

Each flag is joined with its user (email) and its payment (amount and currency as bought), so an
operator can review it without a second lookup. Newest first, cursor-paginated on the id, which sorts
by creation (ids.py).
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import text

from smarthub_mcp.errors import InvalidRequest
from smarthub_mcp.pages import page, row_id, where
from smarthub_mcp.services import Services

MAX_LIMIT = 200
# What new_id() makes: a prefix, "_", then 26 Crockford base32 characters. Anything else as a
# cursor or user id is a client mistake: say so rather than answer an empty page.
ID_RE = re.compile(r"^[a-z]{1,16}_[0-9a-z]{26}$")


def check_id(value: str | None, field: str) -> str | None:
    if value is not None and not ID_RE.match(value):
        raise InvalidRequest(f"{field} is not a valid id", details={"field": field})
    return value


async def list_flags(
    services: Services, *, user_id: str | None = None, cursor: str | None = None, limit: int = 50
) -> tuple[list[dict[str, Any]], str | None]:
    """Flags newest first; pass the returned cursor for the next page (None: no more)."""
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidRequest(f"limit must be between 1 and {MAX_LIMIT}", details={"field": "limit"})
    check_id(user_id, "user_id")
    check_id(cursor, "cursor")
    params: dict[str, Any] = {"n": limit + 1}
    conditions = where(params, [("f.user_id = :user", "user", user_id), ("f.id < :cursor", "cursor", cursor)])
    # LEFT JOINs: a flag must stay visible even if SQLite let its user or payment row go.
    sql = (
        "SELECT f.id, f.user_id, u.email, f.payment_id, f.reason, p.amount_minor, p.currency, f.created_at"
        " FROM payment_flags f LEFT JOIN users u ON u.id = f.user_id LEFT JOIN payments p ON p.id = f.payment_id"
        f" WHERE {conditions} ORDER BY f.id DESC LIMIT :n"
    )
    async with services.db.read() as conn:
        rows = list(await conn.execute(text(sql), params))
    shown, next_cursor = page(rows, limit, row_id)
    return [dict(r._mapping) for r in shown], next_cursor
