"""`/api/v1/admin/moderation`: the review queue, its decisions, users' policies and the compliance report.

- `GET /admin/moderation` (`reports:read`): outputs held for review, oldest first (`?status=pending`
  by default, `approved`, `rejected`; `?user_id=`), each with signed links to the file and preview.
- `POST /admin/moderation/{id}` (`users:manage`): `{"decision": "approve" | "reject", "reason": "..."}`;
  approve delivers the output and charges it once, reject deletes it and returns its credits; audited.
- `GET /admin/moderation/users` (`reports:read`; `?flagged=true` for repeat offenders only) and
  `PUT /admin/moderation/users/{user_id}` (`users:manage`): `{"exempt", "suspended", "note",
  "clear_flag"}`; audited.
- `GET /admin/moderation/roles` (`reports:read`) and `PUT /admin/moderation/roles/{role}` (`roles:manage`):
  `{"thresholds": {"sexual": 0.3}}` holds a role's users to tighter thresholds (the lowest of the
  config's and the admins' applies; `{}` clears); audited; every replica sees it within seconds.
- `GET /admin/moderation/report` (`reports:read`): `?from=&to=` (ISO dates, UTC; the last 30 days by
  default), `?format=csv` for a spreadsheet; counts by day, user, kind, source, category, decision.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from smarthub_mcp.api.authn import client_ip, require
from smarthub_mcp.api.body import read_json
from smarthub_mcp.api.params import int_param, time_param
from smarthub_mcp.billing.money import format_credits
from smarthub_mcp.errors import InvalidRequest, NotFound
from smarthub_mcp.identity.audit import write_audit
from smarthub_mcp.identity.users import get_user
from smarthub_mcp.ids import now_ms
from smarthub_mcp.jobs import reviews as review_money
from smarthub_mcp.logs import request_id_var
from smarthub_mcp.media import library
from smarthub_mcp.media.library import MediaItem
from smarthub_mcp.moderation import policy, report, reviews
from smarthub_mcp.moderation.reviews import Review
from smarthub_mcp.services import Services

MAX_REPORT_DAYS = 366


class ReviewOut(BaseModel):
    review_id: str
    status: str = Field(description="pending, approved or rejected")
    user_id: str
    job_id: str
    media_id: str
    kind: str
    source: str = Field(description="provider (its own content flag), moderation (our output check) or"
                        " unavailable (our check could not answer)")
    category: str | None
    credits: str = Field(description="What approving it charges (held meanwhile when it could be).")
    credits_charged: str | None
    reason: str | None
    decided_by: str | None
    decided_at: int | None
    created_at: int
    url: str | None = Field(description="A signed link to the file while it is held or approved.")
    preview_url: str | None
    url_expires_in: int | None


class ReviewPage(BaseModel):
    items: list[ReviewOut]
    next_cursor: str | None


class DecisionBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    decision: Literal["approve", "reject"]
    reason: str = Field(min_length=3, max_length=500)


class PolicyBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    exempt: bool = False
    suspended: bool = False
    note: str | None = Field(None, max_length=500)
    clear_flag: bool = Field(False, description="Clear the repeat-offender flag.")


class PolicyOut(BaseModel):
    user_id: str
    email: str | None = None
    exempt: bool
    suspended: bool
    flagged_at: int | None
    trips: int
    note: str | None
    updated_by: str | None
    updated_at: int | None


class RoleBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    thresholds: dict[str, float] = Field(description="Category -> the score at or above which this role's prompts"
                                         " and outputs are refused or held; {} clears.", max_length=50)


class RoleOut(BaseModel):
    role: str
    thresholds: dict[str, float] = Field(description="What admins set for this role.")
    effective: dict[str, float] = Field(description="What its users are held to now: the lowest of the config's"
                                        " thresholds, its role_thresholds and these.")


class RoleList(BaseModel):
    items: list[RoleOut]


class ReportRowOut(BaseModel):
    day: str = Field(description="UTC day, YYYY-MM-DD")
    user_id: str
    email: str | None
    kind: str = Field(description="chat, image or video")
    source: str = Field(description="block_list, moderation, provider or unavailable")
    category: str | None
    decision: str = Field(description="refused, unchecked (prompts); held, approved, rejected (outputs)")
    count: int


class ReportTotals(BaseModel):
    by_decision: dict[str, int]
    by_category: dict[str, int]
    by_user: dict[str, int]
    by_day: dict[str, int]


class ReportOut(BaseModel):
    from_: str = Field(alias="from", description="The first day included.")
    to: str = Field(description="The last day included.")
    totals: ReportTotals
    not_charged: str = Field(description="Outputs held in the period and not approved, at list price: what the"
                             " operator may have paid a provider for and not billed.")
    rows: list[ReportRowOut]


class PolicyPage(BaseModel):
    items: list[PolicyOut]
    next_cursor: str | None


async def reviews_out(services: Services, rows: list[Review]) -> list[ReviewOut]:
    """The queue's items with signed links to each undecided or approved output (one media query; a
    rejected output's row is deleted, so it gets no link)."""
    items = await library.by_ids(services.db, [r.media_id for r in rows])
    return [_review_out(services, r, items.get(r.media_id)) for r in rows]


def _review_out(services: Services, review: Review, item: MediaItem | None) -> ReviewOut:
    ttl = services.settings.storage.url_ttl_seconds
    url = preview = None
    if item is not None and item.deleted_at is None:
        url = services.storage.url(item.storage_key, expires_in=ttl)
        preview = services.storage.url(item.preview_key, expires_in=ttl) if item.preview_key else None
    return ReviewOut(
        review_id=review.id, status=review.status, user_id=review.user_id, job_id=review.job_id,
        media_id=review.media_id, kind=review.kind, source=review.source, category=review.category,
        credits=format_credits(review.price),
        credits_charged=format_credits(review.charged) if review.charged is not None else None,
        reason=review.reason, decided_by=review.decided_by, decided_at=review.decided_at,
        created_at=review.created_at, url=url, preview_url=preview, url_expires_in=ttl if url else None,
    )


async def list_reviews(request: Request) -> Response:
    await require(request, "reports:read")
    services: Services = request.app.state.services
    rows, cursor = await reviews.queue(
        services.db, status=request.query_params.get("status") or None,
        user_id=request.query_params.get("user_id") or None,
        limit=int_param(request, "limit", 50, low=1, high=reviews.MAX_LIMIT),
        cursor=request.query_params.get("cursor") or None)
    items = await reviews_out(services, rows)
    return JSONResponse(ReviewPage(items=items, next_cursor=cursor).model_dump(mode="json"))


async def decide(request: Request) -> Response:
    principal = await require(request, "users:manage")
    services: Services = request.app.state.services
    body = await read_json(request, DecisionBody)
    review = await review_money.decide(
        services.db, services.meter, services.storage, request.path_params["id"], decision=body.decision,
        reason=body.reason, actor_id=principal.user_id, ip=client_ip(request), request_id=request_id_var.get())
    await services.jobs.changed(review.job_id)
    return JSONResponse((await reviews_out(services, [review]))[0].model_dump(mode="json"))


async def list_policies(request: Request) -> Response:
    await require(request, "reports:read")
    services: Services = request.app.state.services
    rows, cursor = await policy.listed(
        services.db, flagged_only=request.query_params.get("flagged", "false").lower() == "true",
        limit=int_param(request, "limit", 50, low=1, high=100), cursor=request.query_params.get("cursor") or None)
    items = [PolicyOut(**policy.UserPolicy.from_row(r).__dict__, email=r.email) for r in rows]
    return JSONResponse(PolicyPage(items=items, next_cursor=cursor).model_dump(mode="json"))


async def save_policy(request: Request) -> Response:
    principal = await require(request, "users:manage")
    services: Services = request.app.state.services
    body = await read_json(request, PolicyBody)
    user_id = request.path_params["user_id"]
    async with services.db.write() as conn:
        await get_user(conn, user_id)  # 404 for no such user
        before = await policy.get(conn, user_id)
        after = await policy.save(conn, user_id, exempt=body.exempt, suspended=body.suspended, note=body.note,
                                  actor_id=principal.user_id, clear_flag=body.clear_flag)
        await write_audit(conn, actor_id=principal.user_id, action="moderation.policy", target_id=user_id,
                          target_type="user",
                          before={"exempt": before.exempt, "suspended": before.suspended,
                                  "flagged_at": before.flagged_at},
                          after={"exempt": after.exempt, "suspended": after.suspended, "flagged_at": after.flagged_at,
                                 "note": body.note},
                          ip=client_ip(request), request_id=request_id_var.get())
    return JSONResponse(PolicyOut(**after.__dict__).model_dump(mode="json"))


async def role_out(services: Services, role: str) -> RoleOut:
    moderator = services.moderator
    admins = await moderator.role_thresholds.all()
    return RoleOut(role=role, thresholds=admins.get(role, {}), effective=await moderator.thresholds(role))


async def list_roles(request: Request) -> Response:
    await require(request, "reports:read")
    services: Services = request.app.state.services
    roles = sorted(await services.identity.roles.roles())
    return JSONResponse(RoleList(items=[await role_out(services, r) for r in roles]).model_dump(mode="json"))


async def save_role(request: Request) -> Response:
    principal = await require(request, "roles:manage")
    services: Services = request.app.state.services
    body = await read_json(request, RoleBody)
    role = request.path_params["role"]
    for category, limit in body.thresholds.items():
        if not (0.0 <= limit <= 1.0) or not 0 < len(category) <= 64:
            raise InvalidRequest("each threshold is a category name and a score from 0 to 1",
                                 details={"field": f"thresholds.{category[:64]}"})
    if not await services.identity.roles.exists(role):
        raise NotFound("no such role", details={"role": role[:64]})
    before = (await services.moderator.role_thresholds.all()).get(role, {})
    async with services.db.write() as conn:
        await policy.save_role(conn, role, body.thresholds, principal.user_id)
        await write_audit(conn, actor_id=principal.user_id, action="moderation.role", target_id=role,
                          target_type="role", before={"thresholds": before}, after={"thresholds": body.thresholds},
                          ip=client_ip(request), request_id=request_id_var.get())
    services.moderator.role_thresholds.invalidate()
    return JSONResponse((await role_out(services, role)).model_dump(mode="json"))


async def compliance_report(request: Request) -> Response:
    await require(request, "reports:read")
    services: Services = request.app.state.services
    fmt = request.query_params.get("format", "json")
    if fmt not in ("json", "csv"):
        raise InvalidRequest("format is json or csv", details={"parameter": "format"})
    end_ms = time_param(request, "to")
    end = report.day_of(end_ms if end_ms is not None else now_ms())
    start_ms = time_param(request, "from")
    start = report.day_of(start_ms) if start_ms is not None else end - timedelta(days=29)
    if start > end or (end - start).days >= MAX_REPORT_DAYS:
        raise InvalidRequest(f"from must be on or before to, at most {MAX_REPORT_DAYS} days apart",
                             details={"parameter": "from"})
    built = await report.build(services.db, start, end)
    if fmt == "csv":
        name = f"moderation-{start.isoformat()}-{end.isoformat()}.csv"
        return Response(built.as_csv(), media_type="text/csv",
                        headers={"content-disposition": f'attachment; filename="{name}"'})
    out = ReportOut.model_validate({
        "from": start.isoformat(), "to": end.isoformat(),
        "totals": ReportTotals(by_decision=built.totals("decision"), by_category=built.totals("category"),
                               by_user=built.totals("user_id"), by_day=built.totals("day")),
        "not_charged": format_credits(built.not_charged),
        "rows": [ReportRowOut(**row.__dict__) for row in built.rows],
    })
    return JSONResponse(out.model_dump(mode="json", by_alias=True))


def routes() -> list[BaseRoute]:
    return [
        Route("/admin/moderation", list_reviews, methods=["GET"]),
        Route("/admin/moderation/report", compliance_report, methods=["GET"]),
        Route("/admin/moderation/users", list_policies, methods=["GET"]),
        Route("/admin/moderation/users/{user_id}", save_policy, methods=["PUT"]),
        Route("/admin/moderation/roles", list_roles, methods=["GET"]),
        Route("/admin/moderation/roles/{role}", save_role, methods=["PUT"]),
        Route("/admin/moderation/{id}", decide, methods=["POST"]),
    ]
