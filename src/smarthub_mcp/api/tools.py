"""The HTTP tool facade: `POST /api/v1/tools/{name}` and its OpenAPI document.

For ChatGPT Custom GPT actions and plain HTTP agents. Same arguments, same Bearer auth (API key
or JWT), same `registry.invoke` path and metering as MCP. The OpenAPI document is generated from
the registry, so it cannot drift from what MCP serves.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from smarthub_mcp import __version__
from smarthub_mcp.api.authn import authenticate
from smarthub_mcp.api.body import read_json_value
from smarthub_mcp.errors import NotFound
from smarthub_mcp.logs import request_id_var
from smarthub_mcp.tools.catalog import all_tools
from smarthub_mcp.tools.registry import ToolSpec, invoke, validate_arguments

ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {
                "code": {"type": "string", "description": "Stable machine-readable error code."},
                "message": {"type": "string", "description": "What went wrong, safe to show the user."},
                "details": {"type": "object", "additionalProperties": True},
            },
        }
    },
}


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


def _schema_of(model: type[BaseModel], components: dict[str, Any]) -> dict[str, Any]:
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}", mode="serialization")
    for def_name, definition in schema.pop("$defs", {}).items():
        components[def_name] = definition
    components[model.__name__] = schema
    return {"$ref": f"#/components/schemas/{model.__name__}"}


def _operation(spec: ToolSpec, components: dict[str, Any]) -> dict[str, Any]:
    arguments = spec.arguments.model_json_schema(ref_template="#/components/schemas/{model}")
    for def_name, definition in arguments.pop("$defs", {}).items():
        components[def_name] = definition
    error_ref = {"$ref": "#/components/schemas/Error"}
    error = {"description": "Error", "content": {"application/json": {"schema": error_ref}}}
    return {
        "operationId": spec.name,
        "summary": spec.title,
        "description": spec.description[:300],
        "x-permission": spec.permission,
        "x-paid": spec.paid,
        "requestBody": {"required": False, "content": {"application/json": {"schema": arguments}}},
        "responses": {
            "200": {
                "description": "The tool's result",
                "content": {"application/json": {"schema": _schema_of(spec.result_type, components)}},
            },
            "400": error,
            "401": error,
            "402": error,
            "404": error,
            "429": error,
            "502": error,
            "503": error,
        },
    }


def openapi_document(base_url: str) -> dict[str, Any]:
    components: dict[str, Any] = {"Error": ERROR_SCHEMA}
    paths = {
        f"/api/v1/tools/{spec.name}": {"post": _operation(spec, components)}
        for spec in sorted(all_tools().values(), key=lambda s: s.name)
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "SmartHub MCP tools",
            "version": __version__,
            "description": (
                "AI tools paid for in credits: chat with several models, prompt templates, and account tools. "
                "Authenticate with an API key as a Bearer token."
            ),
        },
        "servers": [{"url": base_url.rstrip("/")}],
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "API key or JWT"}},
        },
        "security": [{"bearerAuth": []}],
    }


async def openapi(request: Request) -> JSONResponse:
    base_url = request.app.state.services.settings.server.public_base_url
    return JSONResponse(openapi_document(base_url))


routes = [
    Route("/tools/openapi.json", openapi, methods=["GET"]),
    Route("/tools/{name}", call_tool, methods=["POST"]),
]
