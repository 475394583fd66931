"""The HTTP API's OpenAPI 3.1 document, built from the operations each area declares.

`GET /api/v1/openapi.json` serves the whole API; `GET /api/v1/tools/openapi.json` (the tool facade's
own, for Custom GPT actions) serves the tools only. Both are built on request from the same
operations, so they cannot disagree.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse

from smarthub_mcp.api.openapi import (
    ops_billing,
    ops_identity,
    ops_jobs,
    ops_media,
    ops_moderation,
    ops_oauth,
    ops_templates,
)
from smarthub_mcp.api.openapi.document import build_document
from smarthub_mcp.api.openapi.spec import Operation
from smarthub_mcp.api.openapi.tools_doc import tool_operations, tools_document

DESCRIPTION = (
    "The HTTP API of SmartHub MCP, a credit-metered AI gateway: accounts and sessions, API keys, credits "
    "and payments, promo codes, prompt templates, the tools (the same ones MCP serves), and the admin's "
    "tools. Send `Authorization: Bearer <API key or access token>`. Credits travel as decimal strings "
    "(`\"12.500000\"`); times as epoch milliseconds. Every error is `{\"error\": {\"code\", \"message\", "
    "\"details\"}}` with a stable `code`; the codes each status can carry are listed under its response."
)


def all_operations() -> list[Operation]:
    return [*ops_identity.OPERATIONS, *ops_billing.OPERATIONS, *ops_templates.OPERATIONS, *ops_media.OPERATIONS,
            *ops_jobs.OPERATIONS, *ops_moderation.OPERATIONS, *ops_oauth.OPERATIONS, *tool_operations()]


def api_document(base_url: str) -> dict[str, Any]:
    return build_document(base_url, all_operations(), title="SmartHub MCP HTTP API", description=DESCRIPTION)


def _base_url(request: Request) -> str:
    return request.app.state.services.settings.server.public_base_url


async def serve_api_document(request: Request) -> JSONResponse:
    return JSONResponse(api_document(_base_url(request)))


async def serve_tools_document(request: Request) -> JSONResponse:
    return JSONResponse(tools_document(_base_url(request)))


__all__ = ["all_operations", "api_document", "serve_api_document", "serve_tools_document", "tools_document"]
