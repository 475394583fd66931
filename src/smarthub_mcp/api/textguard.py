"""Refuse a path or query string holding a NUL or a lone surrogate, before any route runs.

`%00` decodes to a NUL that PostgreSQL cannot take as a query parameter (a search, an id), so one
check here spares every handler that passes a path or query value to the database. Bodies are
checked where they are parsed (`api/body.py`); see `safetext` for why these characters.
"""

from __future__ import annotations

from starlette.datastructures import QueryParams
from starlette.types import ASGIApp, Receive, Scope, Send

from smarthub_mcp.api.errors import error_response
from smarthub_mcp.errors import InvalidRequest
from smarthub_mcp.safetext import flaw


class TextGuardMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            problem = _problem(scope)
            if problem is not None:
                await error_response(InvalidRequest(problem))(scope, receive, send)
                return
        await self.app(scope, receive, send)


def _problem(scope: Scope) -> str | None:
    found = flaw(scope.get("path", ""))
    if found:
        return f"the URL path contains {found}; such text is not accepted"
    # Parsed as the handlers will parse it (`Request.query_params`), so what passes here is what they see.
    for key, value in QueryParams(scope.get("query_string", b"")).multi_items():
        found = flaw(key) or flaw(value)
        if found:
            return f"the query string contains {found}; such text is not accepted"
    return None
