"""Admin: running the service. The jobs queue (through `jobs.admin.queue`, like `GET /api/v1/admin/jobs`),
providers' routes with their circuit states in this process (`Router.route_states`), and the figures of
/metrics that matter (calls, errors and spend by tool) drawn from this replica's registry."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from smarthub_mcp.api.admin_jobs import queue_item
from smarthub_mcp.api.authn import client_ip
from smarthub_mcp.api.dashboard.charts import bar_chart
from smarthub_mcp.api.dashboard.guard import page, services_of
from smarthub_mcp.api.dashboard.render import credits, error_context, render
from smarthub_mcp.credits import parse_credits
from smarthub_mcp.errors import InvalidRequest, SmartHubError
from smarthub_mcp.identity.principal import Principal
from smarthub_mcp.ids import now_ms
from smarthub_mcp.jobs import admin as jobs_admin
from smarthub_mcp.logs import request_id_var

QUEUE_ROWS = 100


async def jobs_queue(request: Request, me: Principal, context: dict[str, Any], *, status: int = 200) -> Response:
    show_all = request.query_params.get("all") == "true"
    rows, _ = await jobs_admin.queue(services_of(request).db, status=None, limit=QUEUE_ROWS, cursor=None,
                                     open_only=not show_all)
    now = now_ms()
    items = [queue_item(r.job, r.owner_email, now) for r in rows]
    return render(request, "admin_jobs.html", {**context, "title": "Jobs queue", "items": items, "all": show_all,
                                               "can_settle": me.can("credits:adjust")}, status=status)


async def settle(request: Request, me: Principal, context: dict[str, Any]) -> Response:
    """Settle a stuck job by hand, as `POST /api/v1/admin/jobs/{id}/settle` does (audited)."""
    me.require("credits:adjust")
    form = context["form"]
    try:
        if form["action"] not in ("release", "charge"):
            raise InvalidRequest("action must be release or charge", details={"field": "action"})
        try:
            amount = parse_credits(form["credits"]) if form["credits"].strip() else None
        except ValueError:
            raise InvalidRequest("credits is not an amount of credits, e.g. 1.5",
                                 details={"field": "credits"}) from None
        job = await jobs_admin.settle_by_hand(
            services_of(request).jobs, request.path_params["id"], action=form["action"],
            amount=amount, reason=form["reason"].strip(), actor_id=me.user_id, ip=client_ip(request),
            request_id=request_id_var.get())
    except SmartHubError as exc:
        return await jobs_queue(request, me, {**context, **error_context(exc)}, status=exc.status)
    return await jobs_queue(request, me, {**context, "notice": f"Job {job.id} settled ({form['action']})."})


async def providers(request: Request, me: Principal, context: dict[str, Any]) -> Response:
    states = services_of(request).router.route_states()
    return render(request, "admin_providers.html", {**context, "title": "Providers", "routes": states})


def tool_figures(metrics: Any) -> dict[str, dict[str, int]]:
    """Calls, errors and micro-credits charged per tool, from the process's Prometheus counters."""
    out: dict[str, dict[str, int]] = defaultdict(lambda: {"calls": 0, "errors": 0, "spend": 0})
    for family in metrics.registry.collect():
        for sample in family.samples:
            tool = sample.labels.get("tool")
            if tool is None:
                continue
            if sample.name == "smarthub_tool_calls_total":
                out[tool]["calls"] += int(sample.value)
                if sample.labels.get("outcome") != "ok":
                    out[tool]["errors"] += int(sample.value)
            elif sample.name == "smarthub_credits_charged_micro_total":
                out[tool]["spend"] += int(sample.value)
    return dict(sorted(out.items()))


async def metrics_page(request: Request, me: Principal, context: dict[str, Any]) -> Response:
    figures = tool_figures(services_of(request).metrics)
    tools = list(figures)

    def chart(title: str, field: str, shown: Any = str) -> Any:
        series = [(t, figures[t][field]) for t in tools]
        return bar_chart(title, series, [shown(v) for _, v in series])

    return render(request, "admin_metrics.html", {
        **context, "title": "Metrics", "figures": figures,
        "charts": [chart("Calls by tool", "calls"), chart("Errors by tool", "errors"),
                   chart("Spend by tool", "spend", credits)] if tools else [],
    })


routes = [
    Route("/dashboard/admin/jobs", page(jobs_queue, "reports:read"), methods=["GET"]),
    Route("/dashboard/admin/jobs/{id}/settle", page(settle, "reports:read", ("action", "credits", "reason")),
          methods=["POST"]),
    Route("/dashboard/admin/providers", page(providers, "reports:read"), methods=["GET"]),
    Route("/dashboard/admin/metrics", page(metrics_page, "reports:read"), methods=["GET"]),
]
