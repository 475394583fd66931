"""One renderer for every error: `{"error": {"code", "message", "details"}}`."""

from __future__ import annotations

import logging

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse

from smarthub_mcp.dbfaults import outage_of
from smarthub_mcp.errors import InternalError, SmartHubError

log = logging.getLogger("smarthub.api")

HTTP_CODES = {
    400: "invalid_request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "invalid_request",
    429: "rate_limited",
}


def error_response(exc: SmartHubError) -> JSONResponse:
    return JSONResponse(exc.to_dict(), status_code=exc.status, headers=exc.headers or None)


async def handle_smarthub_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, SmartHubError)
    if exc.status >= 500 and not exc.logged_where_raised:
        log.error("request failed: %s", exc.code)
    return error_response(exc)


async def handle_http_exception(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    code = HTTP_CODES.get(exc.status_code, "error")
    message = exc.detail if isinstance(exc.detail, str) else code.replace("_", " ")
    body = {"error": {"code": code, "message": message, "details": {}}}
    return JSONResponse(body, status_code=exc.status_code, headers=exc.headers)


async def handle_unexpected(request: Request, exc: Exception) -> JSONResponse:
    outage = outage_of(exc)  # the database went away mid-request: a 503 to retry, not a fault
    if outage is not None:
        return error_response(outage)
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return error_response(InternalError())
