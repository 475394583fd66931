"""Read-only money reports: the admin report (spend from `billing/usage.py`, grants, refunds)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from smarthub_mcp.billing.money import format_credits
from smarthub_mcp.billing.usage import DAY_MS, day_of, spend_by_day


async def admin_report(conn: AsyncConnection, since: int, until: int) -> list[dict[str, Any]]:
    """Spend (usage_events) by user, model and day, and grants (ledger credits) by user, kind and day."""
    out = [
        {"type": "spend", "email": email, "model": model, "kind": "usage", "day": day_of(int(day)), "count": n,
         "amount": format_credits(total)}
        for email, model, day, n, total in await spend_by_day(conn, since, until)
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


