"""`/api/v1/jobs` (the caller's generation jobs) and `/api/v1/images` (generate, one or a batch).

Jobs: `GET /jobs`, `GET /jobs/{id}`, `POST /jobs/{id}/cancel`, the `get_job`/`list_jobs`/
`cancel_job` tools over HTTP with the same permission (`tools:image` or `tools:video`); another
user's job is a 404.
`GET/PUT/DELETE /account/webhook`: where the caller's job completion notices are POSTed
(jobs/notices.py). `POST /images` is `generate_image`, `POST /videos` `generate_video`;
`POST /images/batch` runs several prompts, at most `BATCH_CONCURRENCY` at once, each one its own
metered call (each held, charged or refused on its own: one that cannot pay does not stop the others).
"""

from __future__ import annotations

import asyncio
from typing import Any

from pydantic import BaseModel, Field
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from smarthub_mcp.api.authn import authenticate, require
from smarthub_mcp.api.body import read_body, read_json_value
from smarthub_mcp.api.params import int_param
from smarthub_mcp.errors import InvalidRequest, SmartHubError, validated
from smarthub_mcp.jobs import notices, store, webhooks
from smarthub_mcp.jobs.errors import JobNotFound
from smarthub_mcp.jobs.kinds import JOBS_PERMISSION
from smarthub_mcp.jobs.tokens import PATH
from smarthub_mcp.jobs.views import show
from smarthub_mcp.logs import request_id_var
from smarthub_mcp.services import Services
from smarthub_mcp.tools.catalog import all_tools
from smarthub_mcp.tools.jobs import JobPage
from smarthub_mcp.tools.registry import error_payload, invoke, validate_arguments

BATCH_MAX = 10
BATCH_CONCURRENCY = 3


class WebhookBody(BaseModel):
    url: str = Field(min_length=8, max_length=2000, description="An https URL that accepts POSTed JSON.")


class WebhookOut(BaseModel):
    url: str | None
    secret: str | None = Field(None, description="The signing secret: shown only when the webhook is set.")


class BatchRequest(BaseModel):
    items: list[dict[str, Any]] = Field(min_length=1, max_length=BATCH_MAX,
                                        description="generate_image arguments, one object per prompt.")


def _services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


def _ttl(services: Services) -> int:
    return services.settings.storage.url_ttl_seconds


async def list_jobs(request: Request) -> Response:
    principal = await require(request, JOBS_PERMISSION)
    services = _services(request)
    status = request.query_params.get("status") or None
    if status is not None and status not in (*store.OPEN, *store.FINAL):
        raise InvalidRequest("status is not a job status", details={"field": "status"})
    jobs, cursor = await store.list_for(
        services.db, principal.user_id, limit=int_param(request, "limit", 20, low=1, high=store.MAX_LIMIT),
        cursor=request.query_params.get("cursor") or None, status=status,
    )
    page = JobPage(items=[await show(services.db, services.storage, j, _ttl(services)) for j in jobs],
                   next_cursor=cursor)
    return JSONResponse(page.model_dump(mode="json"))


async def get_job(request: Request) -> Response:
    principal = await require(request, JOBS_PERMISSION)
    services = _services(request)
    job = await store.get_for(services.db, principal.user_id, request.path_params["id"])
    return JSONResponse((await show(services.db, services.storage, job, _ttl(services))).model_dump(mode="json"))


async def cancel_job(request: Request) -> Response:
    principal = await require(request, JOBS_PERMISSION)
    services = _services(request)
    job = await services.jobs.cancel(principal.user_id, request.path_params["id"])
    return JSONResponse((await show(services.db, services.storage, job, _ttl(services))).model_dump(mode="json"))


async def generate(request: Request) -> Response:
    """`POST /images` and `POST /videos`: the generate tool of the path's kind."""
    services = _services(request)
    principal = await authenticate(request, metered=True)
    spec = all_tools()["generate_video" if request.url.path.endswith("/videos") else "generate_image"]
    principal.require(spec.permission)
    arguments = validate_arguments(spec, await read_json_value(request))
    result = await invoke(spec, services, principal, arguments, request_id=request_id_var.get(),
                          wait_seconds=services.settings.jobs.http_wait_seconds)
    return JSONResponse(result.model_dump(mode="json"))


async def batch(request: Request) -> Response:
    services = _services(request)
    principal = await authenticate(request, metered=True)
    spec = all_tools()["generate_image"]
    principal.require(spec.permission)
    body = validated(BatchRequest, await read_json_value(request))
    checked = [validate_arguments(spec, item) for item in body.items]  # all well-formed, or none runs
    gate = asyncio.Semaphore(BATCH_CONCURRENCY)
    request_id = request_id_var.get()

    async def one(index: int, arguments: dict[str, Any]) -> dict[str, Any]:
        async with gate:
            try:
                result = await invoke(spec, services, principal, arguments, request_id=f"{request_id}-{index}",
                                      wait_seconds=services.settings.jobs.http_wait_seconds)
            except SmartHubError as exc:
                return {"index": index, "ok": False, **exc.to_dict()}
            except Exception as exc:  # one item's bug must not lose the others' results
                return {"index": index, "ok": False, **error_payload(exc).to_dict()}
            return {"index": index, "ok": True, "result": result.model_dump(mode="json")}

    results = await asyncio.gather(*(one(i, a) for i, a in enumerate(checked)))
    return JSONResponse({"items": results})


async def get_account_webhook(request: Request) -> Response:
    principal = await require(request, JOBS_PERMISSION)
    hook = await notices.get_webhook(_services(request).db, principal.user_id)
    return JSONResponse(WebhookOut(url=hook[0] if hook else None).model_dump(mode="json"))


async def put_account_webhook(request: Request) -> Response:
    principal = await require(request, JOBS_PERMISSION)
    body = validated(WebhookBody, await read_json_value(request))
    secret = await notices.set_webhook(_services(request), principal.user_id, body.url)
    return JSONResponse(WebhookOut(url=body.url, secret=secret).model_dump(mode="json"))


async def delete_account_webhook(request: Request) -> Response:
    principal = await require(request, JOBS_PERMISSION)
    await notices.delete_webhook(_services(request).db, principal.user_id)
    return JSONResponse(WebhookOut(url=None).model_dump(mode="json"))


async def provider_webhook(request: Request) -> Response:
    """`POST /webhooks/jobs/{job_id}/{token}`: a provider posting a job's result (jobs/webhooks.py).
    Served at the root, outside /api/v1: no bearer token, the URL's HMAC is the credential."""
    services = _services(request)
    if services.jobs.webhook_secret is None:
        raise JobNotFound("no such job")
    body = await read_body(request)
    what = await webhooks.receive(services.jobs, services.jobs.webhook_secret(), request.path_params["job_id"],
                                  request.path_params["token"], body, dict(request.headers))
    return JSONResponse({"status": what})


webhook_routes = [Route(f"{PATH}/{{job_id}}/{{token}}", provider_webhook, methods=["POST"])]


def routes() -> list[BaseRoute]:
    return [
        Route("/jobs", list_jobs, methods=["GET"]),
        Route("/jobs/{id}", get_job, methods=["GET"]),
        Route("/jobs/{id}/cancel", cancel_job, methods=["POST"]),
        Route("/images", generate, methods=["POST"]),
        Route("/images/batch", batch, methods=["POST"]),
        Route("/videos", generate, methods=["POST"]),
        Route("/account/webhook", get_account_webhook, methods=["GET"]),
        Route("/account/webhook", put_account_webhook, methods=["PUT"]),
        Route("/account/webhook", delete_account_webhook, methods=["DELETE"]),
    ]
