"""The chat tool end to end through the MCP client against loopback fake OpenAI and Anthropic servers:
exact charges for the route that answered, nothing charged when every route fails, progress received."""

from __future__ import annotations

import anyio
import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from smarthub_mcp.app import build_app
from smarthub_mcp.billing import pricing
from smarthub_mcp.compose import build_services
from smarthub_mcp.credits import MICRO
from smarthub_mcp.tools.server import build_mcp_server
from tests.conftest import LiveServer
from tests.factories import bearer, make_api_key, make_user_with_token
from tests.fakes.anthropic_server import FakeAnthropic
from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.script import BreakStream, Fail, Reply
from tests.tools.results import error_of

TOML = """
[providers.oai]
type = "openai"
base_url = "{openai}/v1"
api_key_env = "FAKE_OPENAI_KEY"

[providers.claude]
type = "anthropic"
base_url = "{anthropic}"
api_key_env = "FAKE_ANTHROPIC_KEY"

[models.smart]
kind = "chat"
max_output_tokens = 256
routes = [
  {{ provider = "oai", upstream = "gpt-fake", priority = 0 }},
  {{ provider = "claude", upstream = "claude-fake", priority = 1 }},
]
price = {{ input_per_million = 2, output_per_million = 8 }}
"""


@pytest.fixture
async def fakes(tmp_path):
    config_dir = tmp_path / "anthropic-config"
    config_dir.mkdir()
    async with FakeOpenAI(api_key="oai-key") as oai, FakeAnthropic(api_key="claude-key") as claude:
        yield oai, claude, str(config_dir)


@pytest.fixture
async def chat_services(make_config, db, fakes):
    oai, claude, config_dir = fakes
    config = make_config(
        toml=TOML.format(openai=oai.url, anthropic=claude.url),
        FAKE_OPENAI_KEY="oai-key",
        FAKE_ANTHROPIC_KEY="claude-key",
        ANTHROPIC_CONFIG_DIR=config_dir,
        SMARTHUB_AUTH__SIGNUP_GRANT="10",
    )
    services = build_services(config)
    yield services
    await services.router.aclose()
    await services.db.close()


async def mcp_client(services) -> tuple[str, Client]:
    user_id, _ = await make_user_with_token(services)
    key = await make_api_key(services, user_id)
    return user_id, Client(build_mcp_server(services, api_key=key))


def cost(services, result) -> int:
    out = result.structured_content
    return pricing.chat_cost(services.settings.models["smart"].price, out["input_tokens"], out["output_tokens"])


async def test_first_route_answers_and_is_charged_exactly(chat_services, fakes):
    oai, claude, _ = fakes
    oai.script(Reply(text="Hello from fake OpenAI", input_tokens=11, output_tokens=5))
    user_id, client = await mcp_client(chat_services)
    async with client:
        result = await client.call_tool("chat", {"model": "smart", "prompt": "hi", "max_tokens": 100})
    assert not result.is_error, result.content
    out = result.structured_content
    assert out["provider"] == "oai" and out["text"] == "Hello from fake OpenAI"
    assert (out["input_tokens"], out["output_tokens"]) == (11, 5)
    assert (await chat_services.ledger.balance(user_id)).balance == 10 * MICRO - cost(chat_services, result)
    assert claude.requests == []


async def test_falls_back_to_second_route_and_charges_once(chat_services, fakes):
    oai, claude, _ = fakes
    oai.script(Fail(500))
    claude.script(Reply(text="Claude here", input_tokens=20, output_tokens=7))
    user_id, client = await mcp_client(chat_services)
    async with client:
        result = await client.call_tool("chat", {"model": "smart", "prompt": "hi", "max_tokens": 100})
    assert not result.is_error, result.content
    assert result.structured_content["provider"] == "claude"
    charged = cost(chat_services, result)
    assert (await chat_services.ledger.balance(user_id)).balance == 10 * MICRO - charged
    entries, _ = await chat_services.ledger.history(user_id, kinds=["usage"])
    assert [e.amount for e in entries] == [-charged]


async def test_every_route_failing_charges_nothing(chat_services, fakes):
    oai, claude, _ = fakes
    oai.script(Fail(503))
    claude.script(Fail(529, "overloaded_error"))
    user_id, client = await mcp_client(chat_services)
    async with client:
        result = await client.call_tool("chat", {"model": "smart", "prompt": "hi", "max_tokens": 100})
    assert result.is_error
    assert error_of(result)["code"] in {"provider_error", "provider_unavailable"}
    text = result.content[0].text
    assert "fake failure" not in text and "oai-key" not in text  # no provider body, no key
    balance = await chat_services.ledger.balance(user_id)
    assert balance.balance == 10 * MICRO and balance.held == 0


async def test_non_retryable_error_returns_at_once_and_charges_nothing(chat_services, fakes):
    oai, claude, _ = fakes
    oai.script(Fail(400, "invalid_request_error"))
    user_id, client = await mcp_client(chat_services)
    async with client:
        result = await client.call_tool("chat", {"model": "smart", "prompt": "hi", "max_tokens": 100})
    assert result.is_error
    assert claude.requests == []
    assert (await chat_services.ledger.balance(user_id)).balance == 10 * MICRO


async def test_stream_over_http_sends_progress_and_charges_the_reported_usage(chat_services, fakes):
    oai, _, _ = fakes
    oai.script(Reply(text="one two three four five", input_tokens=9, output_tokens=5))
    user_id, token = await make_user_with_token(chat_services)
    pieces: list[str] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        pieces.append(message or "")

    async with LiveServer(build_app(services=chat_services)) as server:
        transport = streamable_http_client(f"{server.url}/mcp", http_client=httpx2.AsyncClient(headers=bearer(token)))
        async with Client(transport, mode="legacy") as client:
            with anyio.fail_after(30):
                result = await client.call_tool(
                    "chat", {"model": "smart", "prompt": "count", "max_tokens": 50}, progress_callback=on_progress
                )
    assert not result.is_error, result.content
    assert "".join(pieces) == "one two three four five"
    assert oai.requests[-1]["body"]["stream"] is True
    assert (await chat_services.ledger.balance(user_id)).balance == 10 * MICRO - cost(chat_services, result)


async def test_stream_broken_midway_charges_only_what_was_produced(chat_services, fakes):
    oai, claude, _ = fakes
    oai.script(BreakStream(text="alpha beta gamma delta", after=2))
    user_id, token = await make_user_with_token(chat_services)

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        return None

    async with LiveServer(build_app(services=chat_services)) as server:
        transport = streamable_http_client(f"{server.url}/mcp", http_client=httpx2.AsyncClient(headers=bearer(token)))
        async with Client(transport, mode="legacy") as client:
            with anyio.fail_after(30):
                result = await client.call_tool(
                    "chat", {"model": "smart", "prompt": "go", "max_tokens": 50}, progress_callback=on_progress
                )
    assert not result.is_error, result.content
    out = result.structured_content
    assert out["finish_reason"] == "interrupted" and out["text"] == "alpha beta"
    assert claude.requests == [], "text was delivered, so no fallback"
    assert (await chat_services.ledger.balance(user_id)).balance == 10 * MICRO - cost(chat_services, result)
