"""Admin: the index of admin pages, the credit audit (every admin money action) and the credit
report (spend and credits granted per day as charts, the rows as CSV). Through `billing.reports`,
like `/api/v1/admin/credits/audit` and `/report`."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from smarthub_mcp.api.credits import report_csv
from smarthub_mcp.api.dashboard.charts import bar_chart, last_days
from smarthub_mcp.api.dashboard.guard import page, services_of
from smarthub_mcp.api.dashboard.render import credits, render
from smarthub_mcp.billing import reports
from smarthub_mcp.billing.usage import DAY_MS
from smarthub_mcp.credits import parse_credits
from smarthub_mcp.identity import audit
from smarthub_mcp.identity.principal import Principal
from smarthub_mcp.ids import now_ms

DAYS = 30
ROWS = 100


async def index(request: Request, me: Principal, context: dict[str, Any]) -> Response:
    return render(request, "admin_index.html", {**context, "title": "Admin"})


async def audit_page(request: Request, me: Principal, context: dict[str, Any]) -> Response:
    async with services_of(request).db.read() as conn:
        items, cursor = await audit.money_audit(conn, request.query_params.get("cursor") or None, ROWS)
    return render(request, "admin_audit.html", {**context, "title": "Credit audit", "items": items,
                                                "next_cursor": cursor})


async def _report_rows(request: Request) -> tuple[int, int, list[dict[str, Any]]]:
    until = now_ms()
    since = until - DAYS * DAY_MS
    async with services_of(request).db.read() as conn:
        return since, until, await reports.admin_report(conn, since, until)


def per_day(rows: list[dict[str, Any]], kind: str, title: str) -> Any:
    totals: dict[str, int] = {}
    for row in rows:
        if row["type"] == kind:
            totals[row["day"]] = totals.get(row["day"], 0) + parse_credits(row["amount"])
    series = [(day, totals.get(day, 0)) for day in last_days(DAYS)]
    return bar_chart(title, series, [credits(v) for _, v in series])


async def report_page(request: Request, me: Principal, context: dict[str, Any]) -> Response:
    _, _, rows = await _report_rows(request)
    return render(request, "admin_report.html", {
        **context, "title": "Credit report", "rows": rows[:ROWS], "total_rows": len(rows),
        "spend": per_day(rows, "spend", f"Spend per day, last {DAYS} days"),
        "granted": per_day(rows, "grant", f"Credits granted per day, last {DAYS} days"),
    })


async def report_download(request: Request, me: Principal, context: dict[str, Any]) -> Response:
    _, _, rows = await _report_rows(request)
    return report_csv(rows)


routes = [
    Route("/dashboard/admin", page(index, "reports:read"), methods=["GET"]),
    Route("/dashboard/admin/audit", page(audit_page, "reports:read"), methods=["GET"]),
    Route("/dashboard/admin/report", page(report_page, "reports:read"), methods=["GET"]),
    Route("/dashboard/admin/report.csv", page(report_download, "reports:read"), methods=["GET"]),
]
