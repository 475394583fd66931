"""Liveness, readiness and the Prometheus metrics."""

from __future__ import annotations

from prometheus_client.exposition import CONTENT_TYPE_LATEST
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from smarthub_mcp import __version__
from smarthub_mcp.api.authn import require


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
    if all(state == "ok" for state in checks.values()):
        return JSONResponse({"status": "ok", "checks": checks})
    return JSONResponse({"status": "unavailable", "checks": checks}, status_code=503)


async def metrics(request: Request) -> Response:
    """This replica's counters, for a Prometheus scrape job holding a `reports:read` key."""
    await require(request, "reports:read")
    return Response(request.app.state.services.metrics.render(), media_type=CONTENT_TYPE_LATEST)


routes = [
    Route("/healthz", healthz, methods=["GET"]),
    Route("/readyz", readyz, methods=["GET"]),
    Route("/metrics", metrics, methods=["GET"]),
]
