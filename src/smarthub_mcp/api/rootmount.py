"""`RootMount`: an app served at the root for the paths its own routes know, and for no other.

The MCP app must sit at the root (the protected-resource URL it advertises has to resolve), but
`Mount("/", app)` hands it every request that no earlier route took in full: its router then
answered `POST /healthz` (our route matched the path, not the method) and `GET /nope` with its own
plain-text 404. Matched by its routes instead, those requests stay with the main router, whose 404
and 405 go through the app's one error renderer (JSON, a stable code).
"""

from __future__ import annotations

from typing import Any

from starlette.applications import Starlette
from starlette.datastructures import URLPath
from starlette.exceptions import HTTPException
from starlette.routing import BaseRoute, Match, NoMatchFound, Route
from starlette.types import Receive, Scope, Send

_ALLOWED = "smarthub.root_mount_allowed"  # scope key: the methods of a path matched only in part


class RootMount(BaseRoute):
    def __init__(self, app: Starlette) -> None:
        self.app = app

    def _match(self, scope: Scope) -> tuple[Match, set[str]]:
        """FULL when a route of the app takes the request; PARTIAL (with the methods it allows) when
        one knows the path but not the method."""
        match, allowed = Match.NONE, set[str]()
        for route in self.app.routes:
            found, _ = route.matches(scope)
            if found == Match.FULL:
                return Match.FULL, set()
            if found == Match.PARTIAL:
                match = Match.PARTIAL
                if isinstance(route, Route) and route.methods:
                    allowed |= route.methods
        return match, allowed

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if scope["type"] not in ("http", "websocket"):
            return Match.NONE, {}
        match, allowed = self._match(scope)
        # The router puts this into the scope before `handle`, so the routes are walked once.
        return match, ({_ALLOWED: allowed} if match == Match.PARTIAL else {})

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        allowed = scope.get(_ALLOWED)
        if allowed is not None:
            # The main router calls a partial match when nothing matched in full: a known path with
            # the wrong method. Raised here (not by the app's own router) so the main app renders it.
            raise HTTPException(405, headers={"Allow": ", ".join(sorted(allowed))} if allowed else None)
        await self.app(scope, receive, send)

    def url_path_for(self, name: str, /, **path_params: Any) -> URLPath:
        raise NoMatchFound(name, path_params)
