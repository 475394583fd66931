"""Admin: the moderation queue (held outputs with their previews; approve or reject, audited, as
`POST /api/v1/admin/moderation/{id}` does through `jobs.reviews.decide`), the users flagged as repeat
offenders, and the compliance report for the last 30 days with its CSV."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from smarthub_mcp.api.admin_moderation import reviews_out
from smarthub_mcp.api.authn import client_ip
from smarthub_mcp.api.dashboard.guard import page, services_of
from smarthub_mcp.api.dashboard.render import error_context, origins, render
from smarthub_mcp.errors import InvalidRequest, SmartHubError
from smarthub_mcp.identity.principal import Principal
from smarthub_mcp.ids import now_ms
from smarthub_mcp.jobs import reviews as review_money
from smarthub_mcp.logs import request_id_var
from smarthub_mcp.moderation import policy, report, reviews

SHOWN = 50


async def queue(request: Request, me: Principal, context: dict[str, Any], *, status: int = 200) -> Response:
    services = services_of(request)
    pending, _ = await reviews.queue(services.db, status="pending", user_id=None, limit=SHOWN, cursor=None)
    items = await reviews_out(services, pending)
    flagged, _ = await policy.listed(services.db, flagged_only=True, limit=SHOWN, cursor=None)
    end = report.day_of(now_ms())
    built = await report.build(services.db, end - timedelta(days=29), end)
    return render(request, "admin_moderation.html", {
        **context, "title": "Moderation", "items": items, "flagged": flagged,
        "totals": built.totals("decision"), "categories": built.totals("category"),
        "can_decide": me.can("users:manage"),
    }, status=status, media_from=origins([u for i in items for u in (i.url, i.preview_url)]))


async def decide(request: Request, me: Principal, context: dict[str, Any]) -> Response:
    """Approve (deliver, then charge once) or reject (delete, refund) one held output; audited."""
    me.require("users:manage")
    form = context["form"]
    services = services_of(request)
    try:
        if form["decision"] not in ("approve", "reject"):
            raise InvalidRequest("decision must be approve or reject", details={"field": "decision"})
        reason = form["reason"].strip()
        if not 3 <= len(reason) <= 500:
            raise InvalidRequest("give a reason of 3 to 500 characters", details={"field": "reason"})
        review = await review_money.decide(
            services.db, services.meter, services.storage, request.path_params["id"], decision=form["decision"],
            reason=reason, actor_id=me.user_id, ip=client_ip(request), request_id=request_id_var.get())
        await services.jobs.changed(review.job_id)
    except SmartHubError as exc:
        return await queue(request, me, {**context, **error_context(exc)}, status=exc.status)
    return await queue(request, me, {**context, "notice": f"Output {review.media_id} {review.status}."})


async def report_download(request: Request, me: Principal, context: dict[str, Any]) -> Response:
    end = report.day_of(now_ms())
    start = end - timedelta(days=29)
    built = await report.build(services_of(request).db, start, end)
    name = f"moderation-{start.isoformat()}-{end.isoformat()}.csv"
    return Response(built.as_csv(), media_type="text/csv",
                    headers={"content-disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store"})


routes = [
    Route("/dashboard/admin/moderation", page(queue, "reports:read"), methods=["GET"]),
    Route("/dashboard/admin/moderation/report.csv", page(report_download, "reports:read"), methods=["GET"]),
    Route("/dashboard/admin/moderation/{id}", page(decide, "reports:read", ("decision", "reason")),
          methods=["POST"]),
]
