"""`/api/v1/admin/jobs`: the rendering queue, and settling a stuck job by hand.

`GET /admin/jobs` (`reports:read`): every user's open jobs by default (`?all=true` for settled ones
too, `?status=`), each with its owner, age, provider, submits and polls, and the credits it holds.
`POST /admin/jobs/{id}/settle` (`credits:adjust`): `{"action": "release" | "charge", "credits": "1.5",
"reason": "..."}` for a job whose outcome is unknown, once the operator has checked with the provider;
audited in the same transaction that settles it.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from smarthub_mcp.api.authn import client_ip, require
from smarthub_mcp.api.body import read_json
from smarthub_mcp.api.params import int_param
from smarthub_mcp.billing.money import format_credits
from smarthub_mcp.credits import parse_credits
from smarthub_mcp.errors import InvalidRequest
from smarthub_mcp.ids import now_ms
from smarthub_mcp.jobs import admin, store
from smarthub_mcp.jobs.store import Job
from smarthub_mcp.logs import request_id_var
from smarthub_mcp.services import Services


class QueueItem(BaseModel):
    job_id: str
    owner_id: str
    owner_email: str | None
    kind: str
    model: str
    status: str
    provider: str | None
    upstream_id: str | None
    age_seconds: int
    submits: int
    polls: int
    progress: int | None
    credits_held: str
    credits_charged: str | None
    error_code: str | None


class QueuePage(BaseModel):
    items: list[QueueItem]
    next_cursor: str | None


class SettleBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    action: Literal["release", "charge"]
    credits: str | float | None = Field(None, description="charge: what the provider billed (at most what is held).")
    reason: str = Field(min_length=3, max_length=500)


def queue_item(job: Job, email: str | None, now: int) -> QueueItem:
    return QueueItem(
        job_id=job.id, owner_id=job.owner_id, owner_email=email, kind=job.kind, model=job.model, status=job.status,
        provider=job.provider, upstream_id=job.upstream_id, age_seconds=max(0, (now - job.created_at) // 1000),
        submits=job.submits, polls=job.polls, progress=job.progress,
        credits_held=format_credits(0 if job.settled else job.estimate),
        credits_charged=format_credits(job.charged or 0) if job.settled else None, error_code=job.error_code,
    )


async def list_queue(request: Request) -> Response:
    await require(request, "reports:read")
    services: Services = request.app.state.services
    rows, cursor = await admin.queue(
        services.db, status=request.query_params.get("status") or None,
        limit=int_param(request, "limit", 50, low=1, high=store.MAX_LIMIT),
        cursor=request.query_params.get("cursor") or None,
        open_only=request.query_params.get("all", "false").lower() != "true",
    )
    now = now_ms()
    return JSONResponse(QueuePage(items=[queue_item(r.job, r.owner_email, now) for r in rows],
                                  next_cursor=cursor).model_dump(mode="json"))


async def settle_job(request: Request) -> Response:
    principal = await require(request, "credits:adjust")
    services: Services = request.app.state.services
    body = await read_json(request, SettleBody)
    try:
        amount = parse_credits(body.credits) if body.credits is not None else None
    except ValueError:
        raise InvalidRequest("credits is not an amount of credits, e.g. \"1.5\"",
                             details={"field": "credits"}) from None
    job = await admin.settle_by_hand(
        services.jobs, request.path_params["id"], action=body.action, amount=amount, reason=body.reason,
        actor_id=principal.user_id, ip=client_ip(request), request_id=request_id_var.get(),
    )
    return JSONResponse(queue_item(job, None, now_ms()).model_dump(mode="json"))


def routes() -> list[BaseRoute]:
    return [
        Route("/admin/jobs", list_queue, methods=["GET"]),
        Route("/admin/jobs/{id}/settle", settle_job, methods=["POST"]),
    ]
