"""The `smarthub` MCPServer."""

from __future__ import annotations

from mcp.server.mcpserver import MCPServer

from smarthub_mcp import __version__
from smarthub_mcp.services import Services

INSTRUCTIONS = """\
SmartHub is an AI gateway paid for in credits. Its tools run chat models, prompt templates, and
image and video generation across several providers. Every paid call reserves an upper-bound
estimate of its price before it runs and is charged exactly afterwards; `list_models` shows prices
and `get_balance` shows what is left. When a call fails for lack of credits, tell the user how to
top up rather than retrying."""


def build_mcp_server(services: Services) -> MCPServer:
    return MCPServer(name="smarthub", instructions=INSTRUCTIONS, version=__version__)
