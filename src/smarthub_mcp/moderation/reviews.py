"""The review queue's table (`moderation_reviews`, owned here): one row per generated output held
back for an admin's decision. The money and the media around a decision are the jobs package's
(jobs/reviews.py); this module only reads and writes the rows, inside the caller's transaction
where one is given.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, fields
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from smarthub_mcp.db import Database
from smarthub_mcp.errors import InvalidRequest
from smarthub_mcp.ids import new_id, now_ms
from smarthub_mcp.moderation.errors import ReviewNotFound
from smarthub_mcp.pages import page, row_id, where

STATUSES = ("pending", "approved", "rejected")
MAX_LIMIT = 100
_ID_RE = re.compile(r"^rev_[0-9a-z]{26}$")
_COLUMNS = ("id, media_id, job_id, user_id, kind, source, category, price, hold_id, status, charged, reason,"
            " decided_by, decided_at, created_at")


@dataclass(frozen=True)
class Review:
    id: str
    media_id: str
    job_id: str
    user_id: str
    kind: str
    source: str
    category: str | None
    price: int
    hold_id: str | None
    status: str
    charged: int | None
    reason: str | None
    decided_by: str | None
    decided_at: int | None
    created_at: int

    @classmethod
    def from_row(cls, row: Any) -> Review:
        return cls(**{f.name: getattr(row, f.name) for f in fields(cls)})


async def insert(conn: AsyncConnection, *, media_id: str, job_id: str, user_id: str, kind: str, source: str,
                 category: str | None, price: int, hold_id: str | None) -> str:
    review_id = new_id("rev")
    await conn.execute(text(
        f"INSERT INTO moderation_reviews ({_COLUMNS}) VALUES (:id, :m, :j, :u, :k, :s, :c, :p, :h, 'pending',"
        " NULL, NULL, NULL, NULL, :now)"),
        {"id": review_id, "m": media_id, "j": job_id, "u": user_id, "k": kind, "s": source, "c": category,
         "p": price, "h": hold_id, "now": now_ms()})
    return review_id


async def get(db: Database | AsyncConnection, review_id: str) -> Review:
    if not isinstance(review_id, str) or not _ID_RE.match(review_id):
        raise ReviewNotFound("no such review")
    sql = text(f"SELECT {_COLUMNS} FROM moderation_reviews WHERE id = :id")
    if isinstance(db, AsyncConnection):
        row = (await db.execute(sql, {"id": review_id})).first()
    else:
        async with db.read() as conn:
            row = (await conn.execute(sql, {"id": review_id})).first()
    if row is None:
        raise ReviewNotFound("no such review")
    return Review.from_row(row)


async def decide(conn: AsyncConnection, review_id: str, *, status: str, reason: str, actor_id: str) -> bool:
    """Compare-and-set pending -> approved | rejected. False when someone decided it first."""
    moved = await conn.execute(text(
        "UPDATE moderation_reviews SET status = :s, reason = :r, decided_by = :a, decided_at = :now"
        " WHERE id = :id AND status = 'pending'"),
        {"s": status, "r": reason, "a": actor_id, "now": now_ms(), "id": review_id})
    return moved.rowcount == 1


async def set_charged(conn: AsyncConnection, review_id: str, charged: int) -> None:
    await conn.execute(text("UPDATE moderation_reviews SET charged = :c WHERE id = :id"),
                       {"c": charged, "id": review_id})


async def queue(db: Database, *, status: str | None, user_id: str | None, limit: int,
                cursor: str | None) -> tuple[list[Review], str | None]:
    """Reviews, oldest first (the queue is worked from its head): pending ones by default."""
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidRequest(f"limit must be between 1 and {MAX_LIMIT}", details={"field": "limit"})
    if status not in (None, *STATUSES):
        raise InvalidRequest("status is pending, approved or rejected", details={"field": "status"})
    params: dict[str, Any] = {"n": limit + 1}
    more = where(params, [("id > :cursor", "cursor", cursor), ("status = :status", "status", status or "pending"),
                          ("user_id = :user", "user", user_id)])
    async with db.read() as conn:
        rows = list(await conn.execute(text(
            f"SELECT {_COLUMNS} FROM moderation_reviews WHERE {more} ORDER BY id LIMIT :n"), params))
    shown, next_cursor = page(rows, limit, row_id)
    return [Review.from_row(r) for r in shown], next_cursor


async def pending_count(db: Database) -> tuple[int, int | None]:
    """How many outputs wait for review, and when the oldest was held (for /metrics)."""
    row = await db.fetch_one("SELECT COUNT(*) AS n, MIN(created_at) AS oldest FROM moderation_reviews"
                             " WHERE status = 'pending'")
    return (int(row.n), row.oldest) if row is not None else (0, None)
