"""The user's dashboard: balance and held credits, spend per day over 30 days as a chart, spend by
model, and the latest calls with their cost. All reads go through the reports the API uses
(`usage.usage_stats`, `usage.recent_usage`, the ledger's balance)."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from smarthub_mcp.api.dashboard.charts import bar_chart, last_days
from smarthub_mcp.api.dashboard.guard import page, services_of
from smarthub_mcp.api.dashboard.render import credits, error_context, render
from smarthub_mcp.billing import usage
from smarthub_mcp.billing.usage import DAY_MS
from smarthub_mcp.credits import parse_credits
from smarthub_mcp.errors import SmartHubError
from smarthub_mcp.identity import flows
from smarthub_mcp.identity.principal import Principal
from smarthub_mcp.ids import now_ms

DAYS = 30
RECENT_CALLS = 20


def spend_chart(by_day: list[dict[str, Any]], title: str) -> Any:
    spent = {row["day"]: parse_credits(row["cost"]) for row in by_day}
    series = [(day, spent.get(day, 0)) for day in last_days(DAYS)]
    return bar_chart(title, series, [credits(v) for _, v in series])


async def home(request: Request, me: Principal, context: dict[str, Any], *, status: int = 200) -> Response:
    services = services_of(request)
    until = now_ms()
    since = until - DAYS * DAY_MS
    balance = await services.ledger.balance(me.user_id)
    async with services.db.read() as conn:
        stats = await usage.usage_stats(conn, me.user_id, since, until)
        recent = await usage.recent_usage(conn, me.user_id, RECENT_CALLS)
    by_model = sorted(stats["by_model"], key=lambda r: parse_credits(r["cost"]), reverse=True)
    return render(request, "home.html", {
        **context, "title": "Dashboard", "balance": balance, "stats": stats, "by_model": by_model,
        "chart": spend_chart(stats["by_day"], f"Spend per day, last {DAYS} days"),
        "recent": recent, "welcome": request.query_params.get("welcome") == "1",
    }, status=status)


async def resend(request: Request, me: Principal, context: dict[str, Any]) -> Response:
    """Another confirmation email (capped per address, like `POST /api/v1/auth/resend-verification`)."""
    try:
        sent = await flows.resend_verification(services_of(request), me)
    except SmartHubError as exc:
        return await home(request, me, {**context, **error_context(exc)}, status=exc.status)
    notice = "A new confirmation email is on its way." if sent else "Your address is already confirmed."
    return await home(request, me, {**context, "notice": notice})


routes = [
    Route("/dashboard", page(home), methods=["GET"]),
    Route("/dashboard/resend-verification", page(resend), methods=["POST"]),
]
