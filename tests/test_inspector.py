"""A third-party MCP client: the MCP Inspector CLI (Node 22) lists tools and calls one over HTTP.

`.ci/run` installs it (`npm ci` in tests/inspector); elsewhere the test is skipped with a message
saying how to install it, unless SMARTHUB_TEST_REQUIRE_INSPECTOR=1.
"""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path

import pytest

from tests.factories import make_api_key, make_user_with_token

BIN = Path(__file__).parent / "inspector" / "node_modules" / ".bin"
INSPECTOR = BIN / "mcp-inspector"
REQUIRED = os.environ.get("SMARTHUB_TEST_REQUIRE_INSPECTOR") == "1"


async def inspector(url: str, key: str, home: Path, *args: str) -> dict:
    if not INSPECTOR.exists():
        message = "MCP Inspector not installed: run `npm ci` in tests/inspector (it brings Node 22)"
        if REQUIRED:
            pytest.fail(message)
        pytest.skip(message)
    # HOME: the Inspector keeps a catalog file there.
    env = {**os.environ, "PATH": f"{BIN}:{os.environ.get('PATH', '')}", "HOME": str(home)}
    process = await asyncio.create_subprocess_exec(
        str(INSPECTOR), "--cli", f"{url}/mcp", "--transport", "http",
        "--header", f"Authorization: Bearer {key}", *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env,
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), 120)
    assert process.returncode == 0, stderr.decode()[-2000:]
    return json.loads(stdout)


async def test_inspector_lists_tools_and_calls_one(services, live_server, tmp_path):
    user_id, _ = await make_user_with_token(services)
    key = await make_api_key(services, user_id)
    listed = await inspector(live_server.url, key, tmp_path, "--method", "tools/list")
    names = {tool["name"] for tool in listed["tools"]}
    assert {"chat", "get_balance", "list_models"} <= names
    called = await inspector(
        live_server.url, key, tmp_path, "--method", "tools/call", "--tool-name", "chat",
        "--tool-arg", "prompt=Hello from the Inspector", "--tool-arg", "max_tokens=32",
    )
    assert not called.get("isError"), called
    assert called["structuredContent"]["provider"] == "demo"
    assert (await services.ledger.balance(user_id)).balance < 1_000_000
