"""`SmartHubMCPServer` skips the SDK's `Mcp-Param-*` schema walk only for tools that declare no
`x-mcp-header`: a tool that declares one is still checked by the SDK, over real requests."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator
from typing import Annotated, Any

import httpx
from pydantic import Field

from smarthub_mcp.tools.server import SmartHubMCPServer

PROTOCOL = "2026-07-28"


def build() -> SmartHubMCPServer:
    server = SmartHubMCPServer(name="headers")

    @server.tool()
    async def routed(region: Annotated[str, Field(json_schema_extra={"x-mcp-header": "Region"})]) -> str:
        """Echo the region (its value is mirrored in the Mcp-Param-Region header)."""
        return region

    @server.tool()
    async def plain(text: str) -> str:
        """Echo the text."""
        return text

    return server


@contextlib.asynccontextmanager
async def serving() -> AsyncIterator[Any]:
    server = build()
    asgi = server.streamable_http_app(stateless_http=True, json_response=True)
    async with server.session_manager.run():
        yield asgi


async def post(app: Any, tool: str, arguments: dict, headers: dict[str, str]) -> httpx.Response:
    meta = {
        "io.modelcontextprotocol/protocolVersion": PROTOCOL,
        "io.modelcontextprotocol/clientCapabilities": {},
        "io.modelcontextprotocol/clientInfo": {"name": "test", "version": "1"},
    }
    body = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "tools/call",
        "params": {"name": tool, "arguments": arguments, "_meta": meta},
    }
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1:8000") as http:
        return await http.post(
            "/mcp",
            content=json.dumps(body),
            headers={
                "accept": "application/json, text/event-stream",
                "content-type": "application/json",
                "mcp-protocol-version": PROTOCOL,
                "mcp-method": "tools/call",
                "mcp-name": tool,
                **headers,
            },
        )


def test_only_tools_that_declare_a_header_expose_their_schema_to_the_check():
    server = build()
    assert server._tool_input_schema("plain") is None
    assert server._tool_input_schema("routed") is not None
    assert server._tool_input_schema("no_such_tool") is None


async def test_a_declared_header_is_still_checked_by_the_sdk():
    async with serving() as app:
        matching = await post(app, "routed", {"region": "eu"}, {"mcp-param-region": "eu"})
        mismatched = await post(app, "routed", {"region": "eu"}, {"mcp-param-region": "us"})
        missing = await post(app, "routed", {"region": "eu"}, {})
    assert matching.status_code == 200, matching.text
    assert matching.json()["result"]["content"][0]["text"] == "eu"
    assert mismatched.status_code == 400
    assert "Mcp-Param-Region" in mismatched.json()["error"]["message"]
    assert missing.status_code == 400


async def test_a_tool_without_declared_headers_answers_as_the_sdk_would():
    async with serving() as app:
        response = await post(app, "plain", {"text": "hi"}, {"mcp-param-region": "anything"})
    assert response.status_code == 200, response.text
    assert response.json()["result"]["content"][0]["text"] == "hi"
