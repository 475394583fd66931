"""A bare MCPServer with one no-op tool: the yardstick the gateway's overhead is measured against.

Served exactly like SmartHub's own MCP app (stateless Streamable HTTP, SSE responses, uvicorn).
Usage: python bench/bare_server.py PORT
"""

from __future__ import annotations

import sys

import uvicorn
from mcp.server.mcpserver import MCPServer

mcp = MCPServer(name="bare")


@mcp.tool()
async def noop() -> str:
    """Do nothing."""
    return "ok"


if __name__ == "__main__":
    app = mcp.streamable_http_app(stateless_http=True, streamable_http_path="/mcp")
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_config=None, access_log=False, lifespan="on")
