"""Serve the tool registry over MCP: one wrapper per tool, one middleware for per-role views.

The wrapper gives the SDK a function with the tool's own signature (so the SDK builds the input
and output schemas and validates arguments), then runs `registry.invoke` for the caller and turns
the outcome into a `CallToolResult`: structured content plus a readable summary, or `isError`
with a stable code. The middleware filters `tools/list` by the caller's permissions and refuses a
hidden tool exactly as the SDK refuses an unknown one.
"""

from __future__ import annotations

import base64
import inspect
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from mcp.server.apps import client_supports_apps
from mcp.server.context import CallNext, ServerRequestContext
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.tools import Tool
from mcp.shared.exceptions import MCPError
from mcp.types import CallToolResult, ImageContent, TextContent

from smarthub_mcp.errors import SmartHubError
from smarthub_mcp.identity.principal import Principal
from smarthub_mcp.logs import request_id_var
from smarthub_mcp.services import Services
from smarthub_mcp.tools.apps.views import VIEW_OF_TOOL, tool_meta
from smarthub_mcp.tools.apps.wiring import result_meta
from smarthub_mcp.tools.catalog import all_tools
from smarthub_mcp.tools.mcplog import client_log
from smarthub_mcp.tools.registry import InlineImages, ProgressFn, ToolSpec, error_payload, invoke, validate_arguments

log = logging.getLogger("smarthub.tools")

SERVER_REFUSED = -32001
"""JSON-RPC error code (server-defined range) for a request refused by our own rules, e.g. a key
revoked during a stdio session; `data` carries `{"code", "message", "details"}`."""

PrincipalSource = Callable[[], Awaitable[Principal]]
"""Who is calling this request: from the verified bearer token over HTTP, from the API key on stdio."""


ERROR_META_KEY = "smarthub/error"
"""Where an error result carries `{"code", "message", "details"}` for programs (`_meta`)."""


def error_result(exc: BaseException) -> CallToolResult:
    """An isError result every client can read: the code and message in the text (what a model and
    a person see), and the whole error in `_meta`. No structuredContent: a tool's output schema
    describes its success, and strict clients (the MCP Inspector) reject an error object there."""
    err = error_payload(exc)
    text = f"Error [{err.code}]: {err.message}"
    hint = err.details.get("how_to_top_up") if isinstance(err.details, dict) else None
    if hint:
        text += f" {hint}"
    return CallToolResult(content=[TextContent(type="text", text=text)], is_error=True,
                          meta={ERROR_META_KEY: err.to_dict()["error"]})


def _wrapper(spec: ToolSpec, services: Services, principal_source: PrincipalSource) -> Callable[..., Any]:
    view = VIEW_OF_TOOL.get(spec.name)

    async def call(**kwargs: Any) -> CallToolResult:
        mcp_ctx: Context = kwargs.pop("mcp_ctx")
        request_id = _request_id(mcp_ctx)
        token = request_id_var.set(request_id)
        meta = None
        try:
            principal = await principal_source()
            progress = _progress_reporter(mcp_ctx)
            result = await invoke(spec, services, principal, kwargs, request_id=request_id, progress=progress,
                                  client_log=client_log(mcp_ctx.request_context) if spec.paid else None)
            if view is not None and client_supports_apps(mcp_ctx):  # MCP Apps hosts only: tools/apps/
                meta = await result_meta(view, services, principal)
        except Exception as exc:  # every failure becomes an isError result with a stable code
            return error_result(exc)
        finally:
            request_id_var.reset(token)
        structured = result.model_dump(mode="json", by_alias=True)
        content: list[TextContent | ImageContent] = [TextContent(type="text", text=spec.summarize(result))]
        if isinstance(result, InlineImages):
            content += [ImageContent(type="image", data=base64.b64encode(data).decode(), mime_type=content_type)
                        for data, content_type in result.inline_images()]
        return CallToolResult(content=list(content), structured_content=structured, meta=meta)

    params = [p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for p in spec.parameters()]
    params.append(inspect.Parameter("mcp_ctx", inspect.Parameter.KEYWORD_ONLY, annotation=Context))
    call.__signature__ = inspect.Signature(params, return_annotation=spec.result_type)  # type: ignore[attr-defined]
    call.__annotations__ = {p.name: p.annotation for p in params} | {"return": spec.result_type}
    call.__name__ = spec.name
    call.__doc__ = spec.description
    return call


def _progress_reporter(mcp_ctx: Context) -> ProgressFn | None:
    """A progress function only when the client sent a progress token: tools stream (chat) only
    for a client that listens, and stay on the cheaper non-streaming path otherwise."""
    meta = mcp_ctx.request_context.meta
    if not meta or meta.get("progress_token") is None:
        return None

    async def progress(done: float, total: float | None, message: str | None) -> None:
        await mcp_ctx.report_progress(done, total, message)

    return progress


def _request_id(mcp_ctx: Context) -> str:
    current = request_id_var.get()
    if current != "-":
        return current
    try:
        return f"mcp-{mcp_ctx.request_id}"
    except ValueError:
        return "mcp"


def visibility_middleware(principal_source: PrincipalSource) -> Callable[..., Any]:
    """Per-role views: list only permitted tools; refuse hidden ones like unknown ones."""

    async def middleware(ctx: ServerRequestContext[Any, Any], call_next: CallNext) -> Any:
        if ctx.method not in ("tools/list", "tools/call"):
            return await call_next(ctx)
        try:
            principal = await principal_source()
        except SmartHubError as exc:
            if ctx.method == "tools/call":
                return error_result(exc)
            # A protocol-level refusal with our code, not the SDK's "Internal server error".
            raise MCPError(SERVER_REFUSED, exc.message, exc.to_dict()["error"]) from None
        tools = all_tools()
        if ctx.method == "tools/call":
            name = (ctx.params or {}).get("name")
            spec = tools.get(name) if isinstance(name, str) else None
            if spec is not None and not principal.can(spec.permission):
                return CallToolResult(content=[TextContent(type="text", text=f"Unknown tool: {name}")], is_error=True)
            if spec is not None:
                # Our own check first, as the HTTP facade does: the same `invalid_request` code and
                # field list, and unknown arguments refused (the SDK would drop them silently and
                # report a bad one only as a pydantic message with no code).
                try:
                    validate_arguments(spec, (ctx.params or {}).get("arguments"))
                except SmartHubError as exc:
                    return error_result(exc)
            return await call_next(ctx)
        result = await call_next(ctx)
        if not isinstance(result, dict):
            return result
        listed = result.get("tools", [])
        allowed = {s.name for s in tools.values() if principal.can(s.permission)}
        return {**result, "tools": [t for t in listed if t.get("name") in allowed]}

    return middleware


_SHAPES: dict[str, Tool] = {}
"""Each tool's MCP description (its input and output schemas, built by pydantic), made once per
process: it follows from the tool's spec alone (`_wrapper`'s signature), never from the services,
and building it costs about 2 ms a tool, so 40 ms for every app built (replicas, tests). Each
server gets a copy bound to its own function."""


def tools_for(services: Services, principal_source: PrincipalSource) -> list[Tool]:
    """The MCP tools of one server: every tool of the catalog, calling `invoke` on `services`."""
    tools = []
    for spec in all_tools().values():
        fn = _wrapper(spec, services, principal_source)
        shape = _SHAPES.get(spec.name)
        if shape is None:
            shape = _SHAPES[spec.name] = Tool.from_function(
                fn, name=spec.name, title=spec.title, description=spec.description, annotations=spec.annotations,
                meta=tool_meta(spec.name), structured_output=True,
            )
        tools.append(shape.model_copy(update={"fn": fn}))
    return tools
