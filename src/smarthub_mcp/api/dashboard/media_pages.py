"""Generated media and the jobs that make it: the gallery (image previews, video players, download,
delete) and the jobs list, whose running jobs update in place (app.js polls `/dashboard/jobs/{id}.json`).
Through `media.library`, `jobs.store`, `jobs.views` and the job engine's cancel, like the API."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from smarthub_mcp.api.dashboard.guard import page, services_of
from smarthub_mcp.api.dashboard.render import error_context, origins, render
from smarthub_mcp.errors import SmartHubError
from smarthub_mcp.identity.principal import Principal
from smarthub_mcp.jobs import store
from smarthub_mcp.jobs.kinds import JOBS_PERMISSION
from smarthub_mcp.jobs.views import show
from smarthub_mcp.media import library
from smarthub_mcp.media.views import media_out
from smarthub_mcp.tools.media import MEDIA_PERMISSION

SHOWN = 48
JOBS_SHOWN = 20


def _ttl(request: Request) -> int:
    return services_of(request).settings.storage.url_ttl_seconds


async def _gallery(request: Request, me: Principal, context: dict[str, Any], *, status: int = 200) -> Response:
    services = services_of(request)
    items, cursor = await library.list_for(services.db, me.user_id, SHOWN, request.query_params.get("cursor") or None)
    shown = [media_out(i, services.storage, _ttl(request)) for i in items]
    links = [u for m in shown for u in (m.url, m.preview_url)]
    return render(request, "media.html", {**context, "title": "Media", "items": shown, "next_cursor": cursor},
                  status=status, media_from=origins(links))


async def gallery(request: Request, me: Principal, context: dict[str, Any]) -> Response:
    return await _gallery(request, me, context)


async def delete(request: Request, me: Principal, context: dict[str, Any]) -> Response:
    services = services_of(request)
    try:
        await library.delete_for(services.storage, services.db, me.user_id, request.path_params["id"])
    except SmartHubError as exc:
        return await _gallery(request, me, {**context, **error_context(exc)}, status=exc.status)
    return await _gallery(request, me, {**context, "notice": "Deleted."})


async def _jobs(request: Request, me: Principal, context: dict[str, Any], *, status: int = 200) -> Response:
    services = services_of(request)
    jobs, _ = await store.list_for(services.db, me.user_id, limit=JOBS_SHOWN)
    shown = [await show(services.db, services.storage, j, _ttl(request)) for j in jobs]
    links = [u for j in shown for m in j.media for u in (m.url, m.preview_url)]
    return render(request, "jobs.html", {**context, "title": "Jobs", "jobs": shown}, status=status,
                  media_from=origins(links))


async def jobs_page(request: Request, me: Principal, context: dict[str, Any]) -> Response:
    return await _jobs(request, me, context)


async def job_json(request: Request, me: Principal, context: dict[str, Any]) -> Response:
    """One job as `GET /api/v1/jobs/{id}` shows it, for the page's live progress."""
    services = services_of(request)
    job = await store.get_for(services.db, me.user_id, request.path_params["id"])
    out = await show(services.db, services.storage, job, _ttl(request))
    return JSONResponse(out.model_dump(mode="json"), headers={"Cache-Control": "no-store"})


async def cancel(request: Request, me: Principal, context: dict[str, Any]) -> Response:
    try:
        await services_of(request).jobs.cancel(me.user_id, request.path_params["id"])
    except SmartHubError as exc:
        return await _jobs(request, me, {**context, **error_context(exc)}, status=exc.status)
    return await _jobs(request, me, {**context, "notice": "Cancelled."})


routes = [
    Route("/dashboard/media", page(gallery, MEDIA_PERMISSION), methods=["GET"]),
    Route("/dashboard/media/{id}/delete", page(delete, MEDIA_PERMISSION), methods=["POST"]),
    Route("/dashboard/jobs", page(jobs_page, JOBS_PERMISSION), methods=["GET"]),
    Route("/dashboard/jobs/{id}.json", page(job_json, JOBS_PERMISSION), methods=["GET"]),
    Route("/dashboard/jobs/{id}/cancel", page(cancel, JOBS_PERMISSION), methods=["POST"]),
]
