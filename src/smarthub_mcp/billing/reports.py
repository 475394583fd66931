"""Read-only money reports: usage statistics, the admin report and the audit trail."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from smarthub_mcp.billing.money import format_credits
from smarthub_mcp.ids import new_id, now_ms
from smarthub_mcp.pages import page, row_id

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


async def admin_report(conn: AsyncConnection, since: int, until: int) -> list[dict[str, Any]]:
    """Spend (usage_events) by user, model and day, and grants (ledger credits) by user, kind and day."""
    spend = await conn.execute(
        text(
            "SELECT u.email, e.model, e.created_at / :d, COUNT(*), CAST(SUM(e.cost) AS BIGINT)"
            " FROM usage_events e JOIN users u ON u.id = e.user_id"
            " WHERE e.created_at >= :s AND e.created_at < :e AND e.status = 'ok'"
            " GROUP BY u.email, e.model, e.created_at / :d ORDER BY 3, 1, 2"
        ),
        {"d": DAY_MS, "s": since, "e": until},
    )
    out = [
        {"type": "spend", "email": email, "model": model, "kind": "usage", "day": day_of(int(day)), "count": n,
         "amount": format_credits(total)}
        for email, model, day, n, total in spend
    ]
    grants = await conn.execute(
        text(
            "SELECT u.email, l.kind, l.created_at / :d, COUNT(*), CAST(SUM(l.amount) AS BIGINT)"
            " FROM ledger_entries l JOIN users u ON u.id = l.account_id"
            " WHERE l.created_at >= :s AND l.created_at < :e AND l.amount > 0 AND l.kind <> 'refund'"
            " GROUP BY u.email, l.kind, l.created_at / :d ORDER BY 3, 1, 2"
        ),
        {"d": DAY_MS, "s": since, "e": until},
    )
    out += [
        {"type": "grant", "email": email, "model": None, "kind": kind, "day": day_of(int(day)), "count": n,
         "amount": format_credits(total)}
        for email, kind, day, n, total in grants
    ]
    from smarthub_mcp.billing.payments import report_rows  # refunds and disputes of Stripe payments

    out += await report_rows(conn, since, until)
    return out


async def write_audit(
    conn: AsyncConnection,
    *,
    actor_id: str | None,
    action: str,
    target_id: str | None,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
    ip: str | None,
    request_id: str | None,
    target_type: str = "account",
) -> None:
    await conn.execute(
        text(
            "INSERT INTO audit_log (id, actor_id, action, target_type, target_id, before_json, after_json, ip,"
            " request_id, created_at) VALUES (:id, :a, :action, :tt, :t, :b, :af, :ip, :r, :now)"
        ),
        {"id": new_id("aud"), "a": actor_id, "action": action, "tt": target_type, "t": target_id,
         "b": json.dumps(before) if before is not None else None,
         "af": json.dumps(after) if after is not None else None, "ip": ip, "r": request_id, "now": now_ms()},
    )


async def money_audit(conn: AsyncConnection, cursor: str | None, limit: int) -> tuple[list[dict[str, Any]], str | None]:
    """Every admin money action (audit_log rows whose action starts with `credits.`), newest first."""
    rows = list(await conn.execute(
        text(
            "SELECT id, actor_id, action, target_id, after_json, ip, created_at FROM audit_log"
            " WHERE action LIKE 'credits.%'" + (" AND id < :c" if cursor else "") + " ORDER BY id DESC LIMIT :n"
        ),
        {"c": cursor, "n": limit + 1},
    ))
    shown, next_cursor = page(rows, limit, row_id)
    items = []
    for audit_id, actor, action, target, after_json, ip, created in shown:
        after = json.loads(after_json) if after_json else {}
        items.append({
            "id": audit_id, "actor_id": actor, "action": action, "target_id": target,
            "amount": after.get("amount"), "reason": after.get("reason"), "ip": ip, "created_at": created,
        })
    return items, next_cursor


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
