"""`/docs` (Swagger UI over /api/v1/openapi.json) and `/`, a small page linking what a visitor needs.

Swagger UI's files come from the pinned `swagger-ui-bundle-v2` package and are served by this app
from `/docs/assets/`, so the page loads nothing from another host (the CSP says so too). Its
start-up script is a file of ours rather than inline, so the CSP needs no `unsafe-inline` for
scripts; Swagger UI sets inline styles, so styles allow them. Links are relative, so a server
published under a path prefix still finds its own files.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import swagger_ui_bundle
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import BaseRoute, Match, Mount, Route
from starlette.staticfiles import StaticFiles

from smarthub_mcp import __version__
from smarthub_mcp.api.html import esc, page

ASSETS = Path(str(swagger_ui_bundle.swagger_ui_path))
DOCS_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
)
DOCS_HTML = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>SmartHub MCP HTTP API</title>
<link rel="stylesheet" href="docs/assets/swagger-ui.css">
<link rel="icon" type="image/png" href="docs/assets/favicon-32x32.png" sizes="32x32">
</head><body><div id="swagger-ui"></div>
<script src="docs/assets/swagger-ui-bundle.js"></script>
<script src="docs/init.js"></script>
</body></html>
"""
# validatorUrl null: Swagger UI would otherwise send the document's URL to an outside validator.
INIT_JS = """window.addEventListener("load", function () {
  window.ui = SwaggerUIBundle({
    url: new URL("api/v1/openapi.json", document.baseURI).href,
    dom_id: "#swagger-ui",
    deepLinking: true,
    validatorUrl: null,
    presets: [SwaggerUIBundle.presets.apis],
    layout: "BaseLayout",
  });
});
"""
HOME_LINKS = (
    ("docs", "API documentation", "browse and try the HTTP API"),
    ("api/v1/openapi.json", "OpenAPI document", "the HTTP API as OpenAPI 3.1"),
    ("healthz", "Health", "is the server alive"),
    ("readyz", "Readiness", "do its database (and Redis) answer"),
    ("dashboard", "Dashboard", "your account"),
)


async def docs_page(request: Request) -> HTMLResponse:
    return HTMLResponse(DOCS_HTML, headers={"Content-Security-Policy": DOCS_CSP, "X-Content-Type-Options": "nosniff",
                                            "Referrer-Policy": "no-referrer", "X-Frame-Options": "DENY"})


async def docs_init(request: Request) -> Response:
    return Response(INIT_JS, media_type="text/javascript", headers={"X-Content-Type-Options": "nosniff"})


def served(routes: list[BaseRoute], scope: dict[str, Any]) -> bool:
    """Whether a GET of the scope's path reaches a route of ours (so the home page links no 404)."""
    for route in routes:
        match, child = route.matches(scope)
        if match != Match.FULL:
            continue
        if not isinstance(route, Mount):
            return True
        if served(route.routes, {**scope, **child}):
            return True
    return False


def get_scope(path: str) -> dict[str, Any]:
    return {"type": "http", "method": "GET", "path": path, "root_path": ""}


async def home(request: Request) -> HTMLResponse:
    items = "".join(
        f'<li><a href="{esc(href)}">{esc(label)}</a>: {esc(what)}</li>'
        for href, label, what in HOME_LINKS
        if served(request.app.router.routes, get_scope("/" + href))
    )
    body = (f"<p>A credit-metered AI gateway that speaks the Model Context Protocol (version {esc(__version__)}). "
            "MCP clients connect to <code>/mcp</code> with an API key.</p>"
            f"<ul>{items}</ul>")
    return page("SmartHub MCP", body)


routes = [
    Route("/", home, methods=["GET"]),
    Route("/docs", docs_page, methods=["GET"]),
    Route("/docs/init.js", docs_init, methods=["GET"]),
    Mount("/docs/assets", app=StaticFiles(directory=ASSETS), name="docs-assets"),
]
