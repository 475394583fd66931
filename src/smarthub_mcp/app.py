"""`build_app`: the one ASGI app: MCP at /mcp, the HTTP API at /api/v1, the OpenAI-compatible API at /v1,
health probes, and the pages the server's own links open (emailed links, Stripe's return URLs)."""

from __future__ import annotations

import contextlib
import gc
from collections.abc import AsyncIterator

from mcp.server.transport_security import TransportSecuritySettings
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Mount, Route

from smarthub_mcp.api import account_pages as identity_pages
from smarthub_mcp.api import admin as identity_admin
from smarthub_mcp.api import (
    admin_jobs,
    admin_moderation,
    dashboard,
    docs,
    health,
    media,
    oauth_google,
    oauth_pages,
    oauth_server,
    openai_compat,
    payment_pages,
)
from smarthub_mcp.api import auth as identity_routes
from smarthub_mcp.api import jobs as jobs_api
from smarthub_mcp.api.errors import handle_http_exception, handle_smarthub_error, handle_unexpected
from smarthub_mcp.api.middleware import RequestIdMiddleware
from smarthub_mcp.api.rootmount import RootMount
from smarthub_mcp.api.textguard import TextGuardMiddleware
from smarthub_mcp.api.wellknown import jwks
from smarthub_mcp.compose import build_services, serving
from smarthub_mcp.config import AppConfig, ServerConfig, load_config
from smarthub_mcp.errors import SmartHubError
from smarthub_mcp.services import Services
from smarthub_mcp.tools.server import build_mcp_server

_LOOPBACK_HOSTS = ["127.0.0.1:*", "localhost:*", "[::1]:*", "127.0.0.1", "localhost", "[::1]"]


def transport_security(server: ServerConfig) -> TransportSecuritySettings:
    """The SDK's DNS-rebinding guard: loopback always, plus the configured public hosts."""
    if "*" in server.allowed_hosts:
        return TransportSecuritySettings(enable_dns_rebinding_protection=False)
    hosts = _LOOPBACK_HOSTS + list(server.allowed_hosts)
    origins = [f"{scheme}://{h}" for h in hosts for scheme in ("http", "https")]
    return TransportSecuritySettings(allowed_hosts=hosts, allowed_origins=origins)


async def no_event_stream(request: Request) -> Response:
    """GET /mcp: the stateless transport has no server-initiated messages to stream, so it offers no
    SSE stream (405, as the MCP spec allows) instead of holding an idle connection per client."""
    raise HTTPException(405, headers={"Allow": "POST"})


def api_routes(services: Services) -> list[BaseRoute]:
    """Routes under /api/v1; each package contributes its own list."""
    from smarthub_mcp.api import credits as billing_http
    from smarthub_mcp.api import oauth_admin, payments, promo
    from smarthub_mcp.api import templates as templates_api
    from smarthub_mcp.api import tools as tools_http

    return [
        *identity_routes.routes,
        *identity_admin.routes,
        *oauth_admin.routes,
        *billing_http.routes(),
        *templates_api.routes(),
        *media.routes(),
        *jobs_api.routes(),
        *admin_jobs.routes(),
        *admin_moderation.routes(),
        *tools_http.routes,
        *payments.routes,
        *promo.routes,
    ]


def build_app(
    config: AppConfig | None = None, *, services: Services | None = None, freeze_heap: bool = False
) -> Starlette:
    """`freeze_heap` (the `serve` command's choice, for a process that serves this one app): once
    started, move every object alive then (modules, vendor SDKs, schemas) out of the collector's
    reach with `gc.freeze()`, so later collections walk only what requests allocate."""
    if services is None:
        services = build_services(config or load_config())
    services.identity.codec  # noqa: B018 -- load signing keys now: a bad JWT setup must stop start-up
    mcp = build_mcp_server(services)
    mcp_app = mcp.streamable_http_app(
        streamable_http_path="/mcp",
        stateless_http=True,
        json_response=False,  # SSE responses, so progress notifications reach the client
        transport_security=transport_security(services.settings.server),
        max_request_body_size=services.settings.server.max_body_bytes,
    )

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with serving(services), mcp.session_manager.run():
            if freeze_heap:
                gc.collect()
                gc.freeze()
            yield

    routes: list[BaseRoute] = [
        *health.routes,
        Route("/.well-known/jwks.json", jwks, methods=["GET"]),
        *identity_pages.routes,  # /verify-email and /reset-password, where the emailed links land
        *payment_pages.routes,
        *media.download_routes,  # where the local media store's signed links land
        *jobs_api.webhook_routes,  # where providers post job results (the URL's HMAC is the credential)
        *docs.routes,  # / and /docs (Swagger UI, its files served from here)
        *dashboard.routes(),  # /dashboard: the web dashboard for users and admins
        # The OAuth authorization server and its pages; its protected-resource document (naming the
        # authorization server and our scopes) is served here, ahead of the MCP app's own.
        *oauth_server.routes(services),
        *oauth_pages.routes,
        *oauth_google.routes,
        Mount("/api/v1", routes=api_routes(services)),
        Mount("/v1", app=openai_compat.app(services)),  # OpenAI SDKs and tools: base_url = <server>/v1
        Route("/mcp", no_event_stream, methods=["GET"]),
        # The MCP app owns /mcp and the OAuth well-known documents; served at the root so the
        # protected-resource URL it advertises resolves, for its own paths only (see RootMount).
        RootMount(mcp_app),
    ]
    app = Starlette(
        routes=routes,
        lifespan=lifespan,
        middleware=[Middleware(RequestIdMiddleware), Middleware(TextGuardMiddleware)],
        exception_handlers={
            SmartHubError: handle_smarthub_error,
            HTTPException: handle_http_exception,
            Exception: handle_unexpected,
        },
    )
    app.state.services = services
    app.state.mcp = mcp
    return app
