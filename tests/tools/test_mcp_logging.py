"""MCP log notifications through the SDK's client, over stdio and real HTTP, on both databases:
a paid call's charge at info, a provider fallback at warning, at the level the client chose."""

from __future__ import annotations

import json
import os
import sys

import anyio
import httpx2
import pytest
from mcp import Client, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp.types import LoggingMessageNotificationParams

from smarthub_mcp.app import build_app
from tests.conftest import TEST_JWT_SECRET, LiveServer
from tests.factories import bearer, make_api_key, make_user_with_token
from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.script import Fail
from tests.tools.conftest import OPENAI_KEY

# The logging feature is deprecated by the 2026-07-28 protocol, and the SDK says so on every use.
pytestmark = pytest.mark.filterwarnings("ignore::mcp.shared.exceptions.MCPDeprecationWarning")

class Logs:
    """What the client's logging callback received."""

    def __init__(self) -> None:
        self.seen: list[LoggingMessageNotificationParams] = []

    async def __call__(self, params: LoggingMessageNotificationParams) -> None:
        self.seen.append(params)

    def take(self) -> list[LoggingMessageNotificationParams]:
        seen, self.seen = self.seen, []
        return seen


def assert_charge(note: LoggingMessageNotificationParams, result, model: str) -> None:
    assert note.level == "info" and note.logger == "smarthub.billing"
    assert note.data["model"] == model and note.data["tool"] == "chat"
    assert note.data["credits_charged"] == result.structured_content["credits_charged"]
    assert note.data["balance"] == result.structured_content["balance"]


def assert_fallback(note: LoggingMessageNotificationParams) -> None:
    assert note.level == "warning" and note.logger == "smarthub.providers"
    assert note.data["model"] == "smart"
    assert note.data["failed"] == [{"provider": "oai", "upstream_model": "gpt-fake",
                                    "error_code": note.data["failed"][0]["error_code"], "upstream_status": 500}]
    assert note.data["answered_by"]["provider"] == "demo"
    assert "oai" in note.data["message"] and "demo" in note.data["message"]


def assert_no_secrets(notes: list[LoggingMessageNotificationParams]) -> None:
    text = json.dumps([n.model_dump(mode="json") for n in notes])
    assert OPENAI_KEY not in text and "fake failure" not in text  # no key, no provider body


async def exercise(call, logs: Logs, set_level, fake_openai: FakeOpenAI) -> None:
    """setLevel(info) + a paid call -> its charge; warning -> no info; a fallback -> a warning.
    `call(tool, arguments)` calls a tool; `set_level(level)` chooses the level for the calls after
    it, the way the transport's protocol does."""
    await set_level("info")
    paid = await call("chat", {"prompt": "hi", "max_tokens": 16})
    assert not paid.is_error, paid.content
    notes = logs.take()
    assert len(notes) == 1, notes
    assert_charge(notes[0], paid, "demo-chat")
    free = await call("get_balance", {})
    assert not free.is_error and logs.take() == []  # free calls charge nothing and say nothing

    await set_level("warning")
    assert not (await call("chat", {"prompt": "hi", "max_tokens": 16})).is_error
    assert logs.take() == []

    fake_openai.script(Fail(500))
    fell_back = await call("chat", {"model": "smart", "prompt": "hi", "max_tokens": 16})
    assert not fell_back.is_error and fell_back.structured_content["provider"] == "demo"
    notes = logs.take()
    assert [n.level for n in notes] == ["warning"], notes
    assert_fallback(notes[0])

    await set_level("info")
    fake_openai.script(Fail(500))
    again = await call("chat", {"model": "smart", "prompt": "hi", "max_tokens": 16})
    notes = logs.take()
    assert [n.level for n in notes] == ["warning", "info"], notes
    assert_fallback(notes[0])
    assert_charge(notes[1], again, "smart")
    assert_no_secrets(notes)

    fake_openai.script(Fail(500))  # a template run is metered through the same path
    run = await call("run_template", {"template_id": "tpl_starter_summarize", "variables": {"text": "Some text."},
                                      "model": "smart"})
    assert not run.is_error, run.content
    notes = logs.take()
    assert [n.level for n in notes] == ["warning", "info"], notes
    assert_fallback(notes[0])
    assert notes[1].data["tool"] == "run_template" and notes[1].data["model"] == "smart"
    assert notes[1].data["credits_charged"] == run.structured_content["credits_charged"]


async def test_stdio_honours_set_level_for_the_session(
    fallback_services, database_url, fallback_config_path, fake_openai, tmp_path
):
    user_id, _ = await make_user_with_token(fallback_services)
    key = await make_api_key(fallback_services, user_id)
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "SMARTHUB_DATABASE_URL": database_url,
        "SMARTHUB_JWT_SECRET": TEST_JWT_SECRET,
        "SMARTHUB_AUTH__DEV_MODE": "false",
        "SMARTHUB_CONFIG": str(fallback_config_path),
        "FAKE_OPENAI_KEY": OPENAI_KEY,
        "SMARTHUB_API_KEY": key,
    }
    params = StdioServerParameters(command=sys.executable, args=["-m", "smarthub_mcp", "stdio"], env=env, cwd=tmp_path)
    logs = Logs()
    with anyio.fail_after(60):
        async with Client(stdio_client(params), mode="legacy", logging_callback=logs) as client:
            assert client.server_capabilities.logging is not None
            await exercise(client.call_tool, logs, client.set_logging_level, fake_openai)


async def test_http_2026_protocol_takes_the_level_from_each_request(fallback_services, fake_openai):
    _, token = await make_user_with_token(fallback_services)
    logs = Logs()
    async with LiveServer(build_app(services=fallback_services)) as server:
        clients: dict[str, Client] = {}
        current = ["info"]

        async def set_level(level: str) -> None:
            current[0] = level

        async def call(name: str, arguments: dict):
            return await clients[current[0]].call_tool(name, arguments)

        with anyio.fail_after(60):
            for level in ("info", "warning"):
                http = httpx2.AsyncClient(headers=bearer(token))
                clients[level] = Client(streamable_http_client(f"{server.url}/mcp", http_client=http),
                                        log_level=level, logging_callback=logs)
            async with clients["info"], clients["warning"]:
                assert clients["info"].server_capabilities.logging is not None
                # Each request carries its level: the same exercise, switching clients to switch levels.
                await exercise(call, logs, set_level, fake_openai)
                async with Client(streamable_http_client(f"{server.url}/mcp",
                                                         http_client=httpx2.AsyncClient(headers=bearer(token))),
                                  logging_callback=logs) as silent:
                    assert not (await silent.call_tool("chat", {"prompt": "hi", "max_tokens": 8})).is_error
                assert logs.take() == []  # no level on the request: no notifications (2026-07-28)


async def test_stateless_http_handshake_answers_set_level_and_sends_the_default(fallback_services):
    """Our HTTP transport is stateless: a 2025-era setLevel has no session to stick to, so it is
    answered and every call gets the default level (info). Documented in docs/DESIGN-NOTES.md."""
    _, token = await make_user_with_token(fallback_services)
    logs = Logs()
    async with LiveServer(build_app(services=fallback_services)) as server:
        http = httpx2.AsyncClient(headers=bearer(token))
        with anyio.fail_after(60):
            async with Client(streamable_http_client(f"{server.url}/mcp", http_client=http), mode="legacy",
                              logging_callback=logs) as client:
                assert client.server_capabilities.logging is not None
                await client.set_logging_level("warning")
                paid = await client.call_tool("chat", {"prompt": "hi", "max_tokens": 16})
                assert not paid.is_error
    notes = logs.take()
    assert len(notes) == 1
    assert_charge(notes[0], paid, "demo-chat")
