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


async def inspector(url: str, key: str, home: Path, *args: str, error: bool = False) -> dict:
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
    if error:  # the Inspector exits 5 (`tool_is_error`) after printing a valid isError result
        assert process.returncode == 5 and b"tool_is_error" in stderr, (process.returncode, stderr.decode()[-2000:])
    else:
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
    # A strict client accepts our logging/setLevel answer (the capability is declared).
    assert await inspector(live_server.url, key, tmp_path, "--method", "logging/setLevel", "--log-level", "info") == {}


@pytest.fixture
def config(make_config):
    """Three calls a minute for users: the rate-limited error path below reaches its limit fast."""
    return make_config(SMARTHUB_LIMITS__ROLES__USER__REQUESTS_PER_MINUTE="3")


async def test_inspector_reads_every_error_result(services, live_server, tmp_path):
    """A strict client validates results against the tool's output schema: each error path comes
    back as a valid isError result with the code in the text, not as a schema violation."""
    user_id, _ = await make_user_with_token(services)
    key = await make_api_key(services, user_id)
    balance = (await services.ledger.balance(user_id)).balance
    await services.ledger.debit(user_id, balance, kind="usage", idempotency_key=f"spend-all:{user_id}")

    async def call(*args: str) -> dict:
        return await inspector(live_server.url, key, tmp_path, "--method", "tools/call", "--tool-name", "chat", *args,
                               error=True)

    cases = [
        (("--tool-arg", "prompt=hi"), "insufficient_credits"),
        (("--tool-arg", "prompt=hi", "--tool-arg", "model=no-such-model"), "available: demo-chat"),
        (("--tool-arg", "prompt=hi", "--tool-arg", "max_tokens=-5"), "max_tokens"),
    ]
    for args, expected in cases:
        result = await call(*args)
        assert result.get("isError") is True, result
        assert "structuredContent" not in result, result
        text = result["content"][0]["text"]
        assert expected in text, (expected, text)
    # Then paid calls until the limit of three a minute refuses one (the sliding window may let one
    # or two more through at a window's edge, so keep calling, boundedly).
    seen = []
    for _ in range(8):
        result = await call("--tool-arg", "prompt=hi")
        assert result.get("isError") is True and "structuredContent" not in result, result
        seen.append(result["content"][0]["text"])
        assert seen[-1].startswith(("Error [insufficient_credits]", "Error [rate_limited]")), seen[-1]
        if seen[-1].startswith("Error [rate_limited]"):
            break
    assert seen[-1].startswith("Error [rate_limited]"), seen
