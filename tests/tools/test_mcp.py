"""The MCP server end to end: in memory, over real HTTP (uvicorn) and over stdio, through the SDK's Client."""

from __future__ import annotations

import os
import sys

import anyio
import httpx
import httpx2
import pytest
from mcp import Client, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.client.streamable_http import streamable_http_client

from smarthub_mcp.billing import pricing
from smarthub_mcp.compose import build_services
from smarthub_mcp.credits import MICRO
from smarthub_mcp.tools.server import build_mcp_server
from tests.clirunner import cli
from tests.factories import bearer, make_api_key, make_user_with_token
from tests.tools.results import error_of

ACCOUNT_TOOLS = {"list_models", "get_balance", "get_usage"}


def http_client(url: str, token: str | None) -> Client:
    headers = bearer(token) if token else {}
    return Client(streamable_http_client(f"{url}/mcp", http_client=httpx2.AsyncClient(headers=headers)), mode="legacy")


async def balance_of(services, user_id: str) -> int:
    return (await services.ledger.balance(user_id)).balance


async def test_in_memory_lists_and_calls_every_account_tool(services):
    user_id, _ = await make_user_with_token(services)
    key = await make_api_key(services, user_id)
    async with Client(build_mcp_server(services, api_key=key)) as client:
        names = {t.name for t in (await client.list_tools()).tools}
        assert ACCOUNT_TOOLS | {"chat"} <= names
        models = await client.call_tool("list_models", {})
        assert not models.is_error
        demo = next(m for m in models.structured_content["models"] if m["name"] == "demo-chat")
        assert demo["available"] is True and demo["kind"] == "chat"
        # Prices read as people write them, not as a Python dict.
        listing = models.content[0].text
        assert "per million input tokens" in listing and "{" not in listing, listing
        balance = await client.call_tool("get_balance", {})
        assert balance.structured_content["balance"] == "1.000000"  # the sign-up grant
        assert "1 credits" in balance.content[0].text
        await client.call_tool("chat", {"prompt": "hi", "max_tokens": 8})
        usage = await client.call_tool("get_usage", {})
        assert " UTC chat demo-chat ok:" in usage.content[0].text, usage.content[0].text  # with the time


async def test_chat_over_http_charges_exactly_the_priced_amount(services, live_server):
    user_id, token = await make_user_with_token(services)
    before = await balance_of(services, user_id)
    async with http_client(live_server.url, token) as client:
        result = await client.call_tool("chat", {"prompt": "Hello there", "max_tokens": 64})
        assert not result.is_error, result.content
        out = result.structured_content
        assert out["model"] == "demo-chat" and out["provider"] == "demo" and out["text"]
        price = services.settings.models["demo-chat"].price
        expected = pricing.chat_cost(price, out["input_tokens"], out["output_tokens"])
        assert expected > 0
        assert out["credits_charged"] == f"{expected // MICRO}.{expected % MICRO:06d}"
        usage = await client.call_tool("get_usage", {"limit": 5})
        assert usage.structured_content["calls"][0]["tool"] == "chat"
    after = await balance_of(services, user_id)
    assert before - after == expected
    hold_count = await services.ledger.check()
    assert hold_count == []


async def test_insufficient_credits_charges_nothing(make_config, db):

    services = build_services(make_config(SMARTHUB_AUTH__SIGNUP_GRANT="0"))
    try:
        user_id, _ = await make_user_with_token(services)
        key = await make_api_key(services, user_id)
        async with Client(build_mcp_server(services, api_key=key)) as client:
            result = await client.call_tool("chat", {"prompt": "hi"})
        assert result.is_error
        assert error_of(result)["code"] == "insufficient_credits"
        assert "[insufficient_credits]" in result.content[0].text
        assert await balance_of(services, user_id) == 0
        assert (await services.ledger.balance(user_id)).held == 0
    finally:
        await services.db.close()


async def test_scoped_key_hides_tools_and_refuses_them_like_unknown_ones(services):
    user_id, _ = await make_user_with_token(services)
    key = await make_api_key(services, user_id, scopes=["credits:read"])
    async with Client(build_mcp_server(services, api_key=key)) as client:
        names = {t.name for t in (await client.list_tools()).tools}
        assert "chat" not in names and "get_balance" in names
        hidden = await client.call_tool("chat", {"prompt": "hi"})
        unknown = await client.call_tool("no_such_tool", {})
    assert hidden.is_error and unknown.is_error
    assert hidden.content[0].text == "Unknown tool: chat"
    assert unknown.content[0].text == "Unknown tool: no_such_tool"
    assert await balance_of(services, user_id) == MICRO


async def test_guest_sees_fewer_tools_than_user(services):
    _, user_token = await make_user_with_token(services, role="user")
    _, guest_token = await make_user_with_token(services, role="guest")
    _, admin_token = await make_user_with_token(services, role="admin")
    seen = {}
    app = build_mcp_server(services)  # the HTTP server's tool list is global; the view is per caller
    assert app is not None
    for role, token in (("user", user_token), ("guest", guest_token), ("admin", admin_token)):
        principal = await _principal(services, token)
        from smarthub_mcp.tools.catalog import visible_tools

        seen[role] = {s.name for s in visible_tools(principal)}
    assert seen["guest"] <= seen["user"] <= seen["admin"]
    assert "chat" in seen["guest"]


async def _principal(services, token: str):
    from smarthub_mcp.identity.principals import verify_jwt

    principal, _claims = await verify_jwt(services, token)
    return principal


async def test_unauthenticated_http_gets_401_with_resource_metadata(live_server):
    async with httpx.AsyncClient() as http:
        response = await http.post(
            f"{live_server.url}/mcp",
            json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
            headers={"accept": "application/json, text/event-stream"},
        )
        assert response.status_code == 401
        challenge = response.headers["www-authenticate"]
        assert challenge.startswith("Bearer") and "resource_metadata=" in challenge
        bad = await http.post(
            f"{live_server.url}/mcp",
            json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
            headers={"accept": "application/json, text/event-stream", "authorization": "Bearer shk_nope"},
        )
        assert bad.status_code == 401
        metadata = await http.get(f"{live_server.url}/.well-known/oauth-protected-resource/mcp")
        assert metadata.status_code == 200 and metadata.json()["resource"].endswith("/mcp")


async def test_api_key_works_over_http_and_both_protocol_generations(services, live_server):
    user_id, _ = await make_user_with_token(services)
    key = await make_api_key(services, user_id)
    for mode in ("legacy", "auto"):
        http = httpx2.AsyncClient(headers=bearer(key))
        transport = streamable_http_client(f"{live_server.url}/mcp", http_client=http)
        async with Client(transport, mode=mode) as client:
            result = await client.call_tool("get_balance", {})
            assert result.structured_content["available"] == "1.000000", mode


async def test_chat_streams_progress_notifications_over_http(services, live_server):
    _, token = await make_user_with_token(services)
    pieces: list[str] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        if message:
            pieces.append(message)

    async with http_client(live_server.url, token) as client:
        with anyio.fail_after(20):
            result = await client.call_tool(
                "chat", {"prompt": "Tell me something", "max_tokens": 64}, progress_callback=on_progress
            )
    assert not result.is_error
    assert pieces, "progress notifications with partial text arrived"
    assert "".join(pieces) == result.structured_content["text"]


async def test_stdio_subprocess_serves_the_key_owner(services, database_url, tmp_path):
    user_id, _ = await make_user_with_token(services)
    key = await make_api_key(services, user_id)
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "SMARTHUB_DATABASE_URL": database_url,
        "SMARTHUB_JWT_SECRET": "x" * 48,
        "SMARTHUB_AUTH__DEV_MODE": "false",
        "SMARTHUB_API_KEY": key,
    }
    params = StdioServerParameters(command=sys.executable, args=["-m", "smarthub_mcp", "stdio"], env=env, cwd=tmp_path)
    with anyio.fail_after(60):
        async with Client(stdio_client(params), mode="legacy") as client:
            names = {t.name for t in (await client.list_tools()).tools}
            assert ACCOUNT_TOOLS <= names
            chat = await client.call_tool("chat", {"prompt": "hi over stdio", "max_tokens": 16})
            assert not chat.is_error
    assert await balance_of(services, user_id) < MICRO


@pytest.mark.parametrize(("env_key", "fragment"), [("", "SMARTHUB_API_KEY is not set"), ("shk_bogus", "invalid")])
def test_stdio_refuses_to_start_without_a_valid_key(db, database_url, tmp_path, env_key, fragment):
    result = cli("stdio", env={"SMARTHUB_DATABASE_URL": database_url, "SMARTHUB_API_KEY": env_key}, cwd=tmp_path)
    assert result.returncode == 2
    assert fragment in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("database_env", "looked_at"),
    [
        (None, "smarthub.db"),  # the default, ./smarthub.db, from a directory without one
        ("sqlite:///elsewhere/app.db", "elsewhere/app.db"),
        ("sqlite:///empty.db", "empty.db"),  # a 0-byte file, as this command used to leave behind
    ],
)
def test_stdio_never_creates_a_database(tmp_path, database_env, looked_at):
    (tmp_path / "empty.db").touch()
    before = sorted(p.name for p in tmp_path.iterdir())
    env = {"SMARTHUB_API_KEY": "shk_anything"}
    if database_env is not None:
        env["SMARTHUB_DATABASE_URL"] = database_env
    result = cli("stdio", env=env, cwd=tmp_path)
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr
    assert str(tmp_path.resolve() / looked_at) in result.stderr
    assert "SMARTHUB_DATABASE_URL" in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # no database, no secret file
    assert (tmp_path / "empty.db").stat().st_size == 0


async def test_rate_limited_call_says_when_to_retry_and_reserves_nothing(make_config, db):

    services = build_services(make_config(SMARTHUB_LIMITS__ROLES__USER__REQUESTS_PER_MINUTE="2"))
    try:
        user_id, _ = await make_user_with_token(services)
        key = await make_api_key(services, user_id)
        async with Client(build_mcp_server(services, api_key=key)) as client:
            results = [await client.call_tool("chat", {"prompt": "hi", "max_tokens": 8}) for _ in range(3)]
        assert [r.is_error for r in results] == [False, False, True]
        error = error_of(results[2])
        assert error["code"] == "rate_limited" and error["details"]["retry_after_seconds"] >= 1
        spent = sum(
            int(r.structured_content["credits_charged"].replace(".", "")) for r in results[:2]
        )
        balance = await services.ledger.balance(user_id)
        assert balance.balance == MICRO - spent and balance.held == 0
    finally:
        await services.db.close()


async def test_dns_rebinding_guard_and_configured_public_host(make_config, db):
    from smarthub_mcp.app import build_app
    from tests.conftest import LiveServer

    services = build_services(make_config(SMARTHUB_SERVER__ALLOWED_HOSTS='["mcp.example.com"]'))
    user_id, _ = await make_user_with_token(services)
    key = await make_api_key(services, user_id)
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
    headers = {"accept": "application/json, text/event-stream", **bearer(key)}
    async with LiveServer(build_app(services=services)) as server, httpx.AsyncClient() as http:
        evil = await http.post(f"{server.url}/mcp", json=body, headers={**headers, "host": "evil.example.net"})
        good = await http.post(f"{server.url}/mcp", json=body, headers={**headers, "host": "mcp.example.com"})
    assert evil.status_code == 421
    assert good.status_code == 200


async def test_key_revoked_mid_session_stops_the_session_cleanly(services):
    from mcp.shared.exceptions import MCPError

    from smarthub_mcp.identity.apikeys import list_keys, revoke_key

    user_id, _ = await make_user_with_token(services)
    key = await make_api_key(services, user_id)
    async with Client(build_mcp_server(services, api_key=key)) as client:
        assert (await client.list_tools()).tools
        for info in await list_keys(services, user_id):
            await revoke_key(services, key_id=info.id, owner_id=user_id)
        call = await client.call_tool("get_balance", {})
        with pytest.raises(MCPError) as refused:
            await client.list_tools()
    assert call.is_error and error_of(call)["code"] == "unauthenticated"
    assert refused.value.error.code == -32001
    assert refused.value.error.data["code"] == "unauthenticated"


async def test_bad_arguments_get_the_facades_code_and_unknown_ones_are_refused(services, live_server):
    """Over MCP as over the HTTP facade: `invalid_request` with the fields at fault, and an argument
    the tool does not take is refused rather than dropped; nothing is charged."""
    user_id, token = await make_user_with_token(services)
    before = await balance_of(services, user_id)
    async with http_client(live_server.url, token) as client:
        for name, arguments, field in (("chat", {"prompt": 123}, "prompt"),
                                       ("chat", {"prompt": "hi", "max_tokens": "lots"}, "max_tokens"),
                                       ("chat", {"prompt": "hi", "extra": 1}, "extra"),
                                       ("get_usage", {"limit": "abc"}, "limit")):
            result = await client.call_tool(name, arguments)
            assert result.is_error, (name, arguments)
            error = error_of(result)
            assert error["code"] == "invalid_request", error
            assert [e["field"] for e in error["details"]["errors"]] == [field], error
            assert "pydantic" not in result.content[0].text
        assert not (await client.call_tool("chat", {"prompt": "hi", "max_tokens": 8})).is_error
    assert await balance_of(services, user_id) < before


async def test_a_token_within_the_clock_leeway_works_over_mcp_as_over_http(services, live_server):
    """`auth.leeway_seconds` (10) covers clock skew on both doors: a token that expired 5 s ago by
    our clock is taken by the HTTP API and by the MCP endpoint alike; one 30 s past is refused by both."""
    user_id, _ = await make_user_with_token(services)
    for ttl, works in ((-5, True), (-30, False)):
        token = services.identity.codec.issue(user_id=user_id, role="user", ttl_seconds=ttl).token
        async with httpx2.AsyncClient() as http:
            me = await http.get(f"{live_server.url}/api/v1/auth/me", headers=bearer(token))
            listed = await http.post(f"{live_server.url}/mcp", headers={
                **bearer(token), "accept": "application/json, text/event-stream",
                "content-type": "application/json", "mcp-protocol-version": "2025-11-25"},
                json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"})
        assert (me.status_code == 200, listed.status_code == 200) == (works, works), (ttl, me.text, listed.text)
