"""The HTTP tool facade: `POST /api/v1/tools/{name}`, and where the OpenAPI documents are served.

For ChatGPT Custom GPT actions and plain HTTP agents. Same arguments, same Bearer auth (API key
or JWT), same `registry.invoke` path and metering as MCP. The documents (`api/openapi/`) are
generated from the registry and the routes' own models, so they cannot drift from what is served.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from smarthub_mcp.api.authn import authenticate
from smarthub_mcp.api.body import read_json_value
from smarthub_mcp.api.openapi import serve_api_document, serve_tools_document
from smarthub_mcp.errors import NotFound
from smarthub_mcp.logs import request_id_var
from smarthub_mcp.tools.catalog import all_tools
from smarthub_mcp.tools.registry import invoke, validate_arguments


async def call_tool(request: Request) -> JSONResponse:
    services = request.app.state.services
    name = request.path_params["name"]
    principal = await authenticate(request, metered=True)
    spec = all_tools().get(name)
    if spec is None or not principal.can(spec.permission):
        raise NotFound(f"unknown tool: {name}")
    arguments = validate_arguments(spec, await read_json_value(request))
    result = await invoke(spec, services, principal, arguments, request_id=request_id_var.get())
    return JSONResponse(result.model_dump(mode="json", by_alias=True))


routes = [
    Route("/openapi.json", serve_api_document, methods=["GET"]),
    Route("/tools/openapi.json", serve_tools_document, methods=["GET"]),
    Route("/tools/{name}", call_tool, methods=["POST"]),
]
