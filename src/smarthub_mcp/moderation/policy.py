"""Per-user moderation policy (`moderation_users`, owned here): what an admin decided for one user,
and the repeat-offender flag the checks raise.

- `exempt`: none of this server's checks apply to the user's prompts or outputs (a provider's own
  content flag still holds an output for review: that is the provider's verdict, not ours);
- `suspended`: the user may not generate (images, video, and chat when chat is checked);
- `flagged_at`: set when the user trips the checks `repeat_offender_trips` times within
  `repeat_offender_days` (refused prompts and held outputs); an admin clears it by saving the policy.

A user without a row has the default policy: checked, not suspended, not flagged.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from smarthub_mcp.db import Database
from smarthub_mcp.ids import now_ms
from smarthub_mcp.pages import page, where

DAY_MS = 86_400_000
_COLUMNS = "user_id, exempt, suspended, flagged_at, trips, note, updated_by, updated_at"


@dataclass(frozen=True)
class UserPolicy:
    user_id: str
    exempt: bool = False
    suspended: bool = False
    flagged_at: int | None = None
    trips: int = 0
    note: str | None = None
    updated_by: str | None = None
    updated_at: int | None = None

    @classmethod
    def from_row(cls, row: Any) -> UserPolicy:
        return cls(row.user_id, bool(row.exempt), bool(row.suspended), row.flagged_at, row.trips, row.note,
                   row.updated_by, row.updated_at)


async def get(db: Database | AsyncConnection, user_id: str) -> UserPolicy:
    sql = f"SELECT {_COLUMNS} FROM moderation_users WHERE user_id = :u"
    if isinstance(db, AsyncConnection):
        row = (await db.execute(text(sql), {"u": user_id})).first()
    else:  # a point lookup on every checked call: the store's fast read
        row = await db.fetch_one(sql, {"u": user_id})
    return UserPolicy.from_row(row) if row is not None else UserPolicy(user_id)


async def role_and_exemption(db: Database, user_id: str) -> tuple[str | None, bool]:
    """What an output check needs of a job's owner, who is not at hand as a principal: their role
    (for its thresholds) and whether they are exempt."""
    row = await db.fetch_one(
        "SELECT u.role, m.exempt FROM users u LEFT JOIN moderation_users m ON m.user_id = u.id WHERE u.id = :u",
        {"u": user_id})
    return (row.role, bool(row.exempt)) if row is not None else (None, False)


async def save(conn: AsyncConnection, user_id: str, *, exempt: bool, suspended: bool, note: str | None,
               actor_id: str, clear_flag: bool) -> UserPolicy:
    """An admin's decision for one user (upsert); `clear_flag` clears the repeat-offender flag."""
    now = now_ms()
    await conn.execute(text(
        "INSERT INTO moderation_users (user_id, exempt, suspended, note, updated_by, updated_at)"
        " VALUES (:u, :e, :s, :n, :a, :now) ON CONFLICT (user_id) DO UPDATE SET exempt = :e, suspended = :s,"
        " note = :n, updated_by = :a, updated_at = :now"
        + (", flagged_at = NULL, trips = 0" if clear_flag else "")
    ), {"u": user_id, "e": exempt, "s": suspended, "n": note, "a": actor_id, "now": now})
    return await get(conn, user_id)


async def trips(conn: AsyncConnection, user_id: str, since: int) -> int:
    """Refused prompts (by a check that answered) and outputs held for review since `since`."""
    refused = (await conn.execute(text(
        "SELECT COUNT(*) FROM moderation_events WHERE user_id = :u AND created_at >= :t AND decision = 'refused'"
        " AND source <> 'unavailable'"), {"u": user_id, "t": since})).scalar_one()
    held = (await conn.execute(text(
        "SELECT COUNT(*) FROM moderation_reviews WHERE user_id = :u AND created_at >= :t"
        " AND source <> 'unavailable'"), {"u": user_id, "t": since})).scalar_one()
    return int(refused) + int(held)


async def note_trip(db: Database, user_id: str, *, threshold: int, days: int) -> bool:
    """After a refusal or a held output: flag the user when they have tripped the checks `threshold`
    times within `days`. True when this call flagged them (a flagged user stays flagged until an
    admin clears it, so it is not raised again meanwhile)."""
    now = now_ms()
    async with db.write() as conn:
        current = await get(conn, user_id)
        if current.flagged_at is not None:
            return False
        count = await trips(conn, user_id, now - days * DAY_MS)
        if count < threshold:
            return False
        await conn.execute(text(
            "INSERT INTO moderation_users (user_id, flagged_at, trips, updated_at) VALUES (:u, :now, :n, :now)"
            " ON CONFLICT (user_id) DO UPDATE SET flagged_at = :now, trips = :n"
            " WHERE moderation_users.flagged_at IS NULL"), {"u": user_id, "now": now, "n": count})
    return True


async def listed(db: Database, *, flagged_only: bool, limit: int, cursor: str | None) -> tuple[list[Any], str | None]:
    """Users with a policy row (or only the flagged ones), with their email; by user id."""
    params: dict[str, Any] = {"n": limit + 1}
    more = where(params, [("m.user_id > :cursor", "cursor", cursor)])
    if flagged_only:
        more += " AND m.flagged_at IS NOT NULL"
    rows = await db.fetch(
        f"SELECT m.*, u.email FROM moderation_users m LEFT JOIN users u ON u.id = m.user_id WHERE {more}"
        " ORDER BY m.user_id LIMIT :n", params)
    return page(rows, limit, lambda row: row.user_id)
