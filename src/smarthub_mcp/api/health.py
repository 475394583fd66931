"""Liveness and readiness."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from smarthub_mcp import __version__


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


routes = [Route("/healthz", healthz, methods=["GET"]), Route("/readyz", readyz, methods=["GET"])]
