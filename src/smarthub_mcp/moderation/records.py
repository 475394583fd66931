"""The `moderation_events` table: one row per refusal (and per prompt let through unchecked because
the endpoint was down and the kind fails open), for the compliance report."""

from __future__ import annotations

from sqlalchemy import text

from smarthub_mcp.db import Database
from smarthub_mcp.ids import new_id, now_ms


async def record(db: Database, *, user_id: str, kind: str, decision: str, source: str,
                 category: str | None) -> None:
    async with db.write() as conn:
        await conn.execute(text(
            "INSERT INTO moderation_events (id, user_id, kind, decision, source, category, created_at)"
            " VALUES (:id, :u, :k, :d, :s, :c, :now)"),
            {"id": new_id("mod"), "u": user_id, "k": kind, "d": decision, "s": source, "c": category,
             "now": now_ms()})
