"""Liveness and readiness."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from smarthub_mcp import __version__


async def healthz(request: Request) -> JSONResponse:
    return JSONResponse({"status": "ok", "version": __version__})


async def readyz(request: Request) -> JSONResponse:
    db = request.app.state.services.db
    try:
        await db.ping()
    except Exception:
        return JSONResponse(
            {"status": "unavailable", "checks": {"database": "unreachable"}}, status_code=503
        )
    return JSONResponse({"status": "ok", "checks": {"database": "ok"}})


routes = [Route("/healthz", healthz, methods=["GET"]), Route("/readyz", readyz, methods=["GET"])]
