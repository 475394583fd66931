"""Liveness, readiness and the Prometheus metrics."""

from __future__ import annotations

from prometheus_client.exposition import CONTENT_TYPE_LATEST
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from smarthub_mcp import __version__
from smarthub_mcp.api.authn import require
from smarthub_mcp.ids import now_ms
from smarthub_mcp.jobs import notices
from smarthub_mcp.jobs import store as job_store
from smarthub_mcp.moderation import reviews


async def healthz(request: Request) -> JSONResponse:
    return JSONResponse({"status": "ok", "version": __version__})


async def readyz(request: Request) -> JSONResponse:
    """Ready when the database answers and, if SMARTHUB_REDIS_URL is set, Redis does too: the rate
    limiter fails closed, so a replica without its Redis would refuse every tool call."""
    services = request.app.state.services
    checks: dict[str, str] = {}
    try:
        await services.db.ping()
        checks["database"] = "ok"
    except Exception:
        checks["database"] = "unreachable"
    if services.secrets.redis_url:
        checks["redis"] = "ok" if await services.rate_limiter.ping() else "unreachable"
    # What prompts go through, and what happens when the moderation endpoint is down: said, not checked.
    details = services.moderator.describe()
    if getattr(request.app.state, "draining", False):  # SIGTERM: leaving the balancer (cli/server.py)
        return JSONResponse({"status": "draining", "checks": checks, "details": details}, status_code=503)
    if all(state == "ok" for state in checks.values()):
        return JSONResponse({"status": "ok", "checks": checks, "details": details})
    return JSONResponse({"status": "unavailable", "checks": checks, "details": details}, status_code=503)


async def metrics(request: Request) -> Response:
    """This replica's counters, for a Prometheus scrape job holding a `reports:read` key."""
    await require(request, "reports:read")
    services = request.app.state.services
    # Gauges of shared state are read now, when Prometheus asks, not kept up to date per call.
    count, oldest = await services.ledger.open_holds()
    services.metrics.holds(count, max(0.0, (now_ms() - oldest) / 1000) if oldest is not None else 0.0)
    services.metrics.pools(services.db.pool_stats())
    by_status, oldest_job = await job_store.open_stats(services.db)
    services.metrics.jobs(by_status, max(0.0, (now_ms() - oldest_job) / 1000) if oldest_job is not None else 0.0,
                          await notices.delivery_stats(services.db))
    pending, oldest_review = await reviews.pending_count(services.db)
    services.metrics.reviews(pending, max(0.0, (now_ms() - oldest_review) / 1000) if oldest_review is not None else 0.0)
    return Response(services.metrics.render(), media_type=CONTENT_TYPE_LATEST)


routes = [
    Route("/healthz", healthz, methods=["GET"]),
    Route("/readyz", readyz, methods=["GET"]),
    Route("/metrics", metrics, methods=["GET"]),
]
