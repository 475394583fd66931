"""The `smarthub` MCPServer: every registered tool, behind the identity package's token check."""

from __future__ import annotations

from typing import Any

from mcp.server.auth.middleware.auth_context import get_access_token
from mcp.server.auth.settings import AuthSettings
from mcp.server.mcpserver import MCPServer
from mcp.shared.inbound import x_mcp_header_map
from mcp.types import SetLevelRequestParams

from smarthub_mcp import __version__
from smarthub_mcp.errors import Unauthenticated
from smarthub_mcp.identity.principal import Principal
from smarthub_mcp.services import Services
from smarthub_mcp.tools.apps.views import build_apps
from smarthub_mcp.tools.apps.wiring import apps_middleware
from smarthub_mcp.tools.binding import PrincipalSource, tools_for, visibility_middleware
from smarthub_mcp.tools.completions import completion_handler
from smarthub_mcp.tools.job_resources import job_resources_middleware
from smarthub_mcp.tools.mcplog import set_level
from smarthub_mcp.tools.media_resources import media_resources_middleware
from smarthub_mcp.tools.prompts import prompts_middleware

INSTRUCTIONS = """\
SmartHub is an AI gateway paid for in credits. Its tools run chat models and prompt templates
across several providers, and show the caller's account. Every paid call reserves an upper-bound
estimate of its price before it runs and is charged exactly afterwards: `list_models` shows the
models and their prices, `get_balance` what is left, `get_usage` recent calls and spend. When a
call fails with `insufficient_credits`, tell the user how to top up (`buy_credits`,
`redeem_promo`) instead of retrying. Errors carry a stable code in brackets, e.g. [rate_limited]."""


class SmartHubMCPServer(MCPServer):
    """`MCPServer`, minus a per-call cost our tools cannot use.

    On every `tools/call` with arguments, the SDK's HTTP transport walks the tool's whole input
    schema twice (through `_tool_input_schema`) looking for `x-mcp-header` annotations, to check
    `Mcp-Param-*` headers against them: about 40 us of CPU per chat call here, 5% of the server's
    work. None of our tools declares such a header, and with none declared that check accepts
    every request, so answering "no schema" for those tools skips the walk and changes nothing.
    A tool that does declare one still gets the SDK's full check. Relies on the SDK's private
    hook: if it is renamed, this override simply stops being called and the SDK checks as before.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._header_schemas: dict[str, tuple[dict[str, Any], bool]] = {}

    def enable_logging(self) -> None:
        """Serve `logging/setLevel`, which also declares the logging capability. `MCPServer` has no
        public way to add it; the SDK's docs point at the low-level server's `add_request_handler`."""
        self._lowlevel_server.add_request_handler("logging/setLevel", SetLevelRequestParams, set_level)

    def _tool_input_schema(self, name: str) -> dict[str, Any] | None:
        schema = super()._tool_input_schema(name)
        if schema is None:
            return None
        known = self._header_schemas.get(name)
        if known is None or known[0] is not schema:  # first call, or the tool was replaced
            known = self._header_schemas[name] = (schema, bool(x_mcp_header_map(schema)))
        return schema if known[1] else None


def token_principal_source() -> PrincipalSource:
    """Over HTTP the SDK's auth middleware has verified the bearer token; read who it was."""
    from smarthub_mcp.identity.verifier import principal_from_access_token

    async def source() -> Principal:
        token = get_access_token()
        if token is None:
            raise Unauthenticated()
        return principal_from_access_token(token)

    return source


def api_key_principal_source(services: Services, api_key: str) -> PrincipalSource:
    """On stdio (and in-process clients) the caller is the owner of one API key, re-checked per call
    so a revoked key or a disabled user stops working at once."""
    from smarthub_mcp.identity.principals import principal_for_api_key

    async def source() -> Principal:
        return await principal_for_api_key(services, api_key)

    return source


def middleware(services: Services, source: PrincipalSource) -> list[Any]:
    """Per-caller views: the tools they may call, their prompts, their media and job resources."""
    return [apps_middleware(), visibility_middleware(source), prompts_middleware(services, source),
            media_resources_middleware(services, source), job_resources_middleware(services, source)]


def build_mcp_server(services: Services, *, api_key: str | None = None) -> SmartHubMCPServer:
    """The server for HTTP (token auth) or, with `api_key`, for stdio and in-process clients."""
    if api_key is not None:
        source = api_key_principal_source(services, api_key)
        mcp = SmartHubMCPServer(
            name="smarthub",
            instructions=INSTRUCTIONS,
            version=__version__,
            middleware=middleware(services, source),
            subscriptions=services.events,
            extensions=[build_apps(services.storage.origins())],
            tools=tools_for(services, source),
        )
    else:
        from smarthub_mcp.oauth.verifier import OAuthAwareTokenVerifier

        base = services.settings.server.public_base_url.rstrip("/")
        source = token_principal_source()
        mcp = SmartHubMCPServer(
            name="smarthub",
            instructions=INSTRUCTIONS,
            version=__version__,
            token_verifier=OAuthAwareTokenVerifier(services),
            # The verifier checks issuer and audience itself (an OAuth token's audience must be
            # /mcp); the SDK's resource check would refuse our session JWTs and API keys.
            auth=AuthSettings(issuer_url=base, resource_server_url=f"{base}/mcp", validate_token_resource=False),
            middleware=middleware(services, source),
            subscriptions=services.events,
            extensions=[build_apps(services.storage.origins())],
            tools=tools_for(services, source),
        )
    mcp.enable_logging()
    mcp.completion()(completion_handler(services, source))
    return mcp
