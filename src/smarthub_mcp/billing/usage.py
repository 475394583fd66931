"""The `usage_events` table's owner: one row per metered call (written by the meter through
`INSERT_USAGE`/`UPSERT_USAGE`, or by the ledger in the capture's own statement), and every read of it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from smarthub_mcp.billing.money import format_credits

_USAGE_COLUMNS = (
    "id", "user_id", "tool", "model", "provider", "upstream_model", "status", "error_code", "input_tokens",
    "output_tokens", "images", "seconds", "estimate", "cost", "hold_id", "latency_ms", "request_id", "created_at",
)
INSERT_USAGE = (
    f"INSERT INTO usage_events ({', '.join(_USAGE_COLUMNS)}) VALUES ({', '.join(':' + c for c in _USAGE_COLUMNS)})"
)
# The sweeper may have recorded a hold as expired while its call was still finishing: the call's own
# row, richer (tokens, provider), then replaces that placeholder. One row per hold either way.
UPSERT_USAGE = INSERT_USAGE + " ON CONFLICT (hold_id) DO UPDATE SET " + ", ".join(
    f"{c} = excluded.{c}" for c in _USAGE_COLUMNS if c not in ("id", "hold_id", "user_id", "created_at")
)

DAY_MS = 86_400_000


def day_of(ms_day: int) -> str:
    return datetime.fromtimestamp(ms_day * 86_400, UTC).date().isoformat()


async def usage_stats(conn: AsyncConnection, user_id: str, since: int, until: int) -> dict[str, Any]:
    """Usage by day, tool and model over [since, until) for one user."""
    rows = await conn.execute(
        text(
            "SELECT created_at / :d AS day, tool, model, COUNT(*), CAST(SUM(cost) AS BIGINT),"
            " CAST(SUM(input_tokens) AS BIGINT), CAST(SUM(output_tokens) AS BIGINT)"
            " FROM usage_events WHERE user_id = :u AND created_at >= :s AND created_at < :e"
            " GROUP BY created_at / :d, tool, model ORDER BY day, tool, model"
        ),
        {"d": DAY_MS, "u": user_id, "s": since, "e": until},
    )
    by_day: dict[str, dict[str, Any]] = {}
    by_tool: dict[str, dict[str, Any]] = {}
    by_model: dict[str, dict[str, Any]] = {}
    total_cost = total_calls = 0
    for day, tool, model, calls, cost, tokens_in, tokens_out in rows:
        for table, key in ((by_day, day_of(int(day))), (by_tool, tool), (by_model, model or "-")):
            slot = table.setdefault(key, {"calls": 0, "cost": 0, "input_tokens": 0, "output_tokens": 0})
            slot["calls"] += calls
            slot["cost"] += cost
            slot["input_tokens"] += tokens_in
            slot["output_tokens"] += tokens_out
        total_cost += cost
        total_calls += calls

    def shown(table: dict[str, dict[str, Any]], name: str) -> list[dict[str, Any]]:
        return [{name: k, **v, "cost": format_credits(v["cost"])} for k, v in table.items()]

    return {
        "calls": total_calls,
        "cost": format_credits(total_cost),
        "by_day": shown(by_day, "day"),
        "by_tool": shown(by_tool, "tool"),
        "by_model": shown(by_model, "model"),
    }


USAGE_COLUMNS = "created_at, tool, model, provider, status, error_code, input_tokens, output_tokens, cost"


async def recent_usage(conn: AsyncConnection, user_id: str, limit: int) -> list[Any]:
    """One user's latest metered calls, newest first (columns: USAGE_COLUMNS)."""
    rows = await conn.execute(
        text(f"SELECT {USAGE_COLUMNS} FROM usage_events WHERE user_id = :u ORDER BY created_at DESC, id DESC"
             " LIMIT :n"),
        {"u": user_id, "n": limit},
    )
    return list(rows)


async def spend_by_day(conn: AsyncConnection, since: int, until: int) -> list[Any]:
    """Charged calls by user email, model and day over [since, until): `(email, model, day, count, total)`."""
    rows = await conn.execute(
        text(
            "SELECT u.email, e.model, e.created_at / :d, COUNT(*), CAST(SUM(e.cost) AS BIGINT)"
            " FROM usage_events e JOIN users u ON u.id = e.user_id"
            " WHERE e.created_at >= :s AND e.created_at < :e AND e.status = 'ok'"
            " GROUP BY u.email, e.model, e.created_at / :d ORDER BY 3, 1, 2"
        ),
        {"d": DAY_MS, "s": since, "e": until},
    )
    return list(rows)


RECENT_USAGE_ROWS = 200
"""How far back `recent_models` looks: the caller's newest usage rows, read through its index."""


async def recent_models(conn: AsyncConnection, user_id: str) -> list[str]:
    """The models a user called lately, most recent first (each once)."""
    rows = await conn.execute(
        text(
            "SELECT model FROM usage_events WHERE user_id = :u AND model IS NOT NULL"
            " ORDER BY created_at DESC LIMIT :n"
        ),
        {"u": user_id, "n": RECENT_USAGE_ROWS},
    )
    return list(dict.fromkeys(model for (model,) in rows))
