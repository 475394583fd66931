"""The OpenAI-compatible endpoint (`/v1`) through the real `openai` SDK against a live server: answers,
streams and errors in OpenAI's shapes, and every call charged exactly like the MCP `chat` tool."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from decimal import Decimal

import anyio
import httpx
import openai
import pytest

from smarthub_mcp.billing import pricing
from smarthub_mcp.credits import MICRO
from smarthub_mcp.services import Services
from tests.conftest import LiveServer
from tests.factories import bearer, make_api_key, make_user_with_token
from tests.fakes.script import BreakStream, Hang, Reply

LIMITED = "limited@example.com"
TOML = """
[providers.demo]
type = "demo"

[providers.oai]
type = "openai"
base_url = "{openai}/v1"
api_key_env = "FAKE_OPENAI_KEY"

[providers.keyless]
type = "openai"
api_key_env = "SMARTHUB_TEST_NO_SUCH_KEY"

[models.demo-chat]
kind = "chat"
routes = [{{ provider = "demo", upstream = "demo-chat-1" }}]
price = {{ input_per_million = 1, output_per_million = 2, per_call_minimum = "0.0001" }}

[models.smart]
kind = "chat"
max_output_tokens = 256
routes = [{{ provider = "oai", upstream = "gpt-fake" }}]
price = {{ input_per_million = 2, output_per_million = 8 }}

[models.pricey]
kind = "chat"
routes = [{{ provider = "demo", upstream = "demo-chat-1" }}]
price = {{ input_per_million = 1000, output_per_million = 100000 }}

[models.offline]
kind = "chat"
routes = [{{ provider = "keyless", upstream = "gpt-none" }}]

[limits.users."{limited}"]
requests_per_minute = 1
"""
GRANT = 10 * MICRO


@pytest.fixture
def config(make_config, fake_openai):
    return make_config(
        toml=TOML.format(openai=fake_openai.url, limited=LIMITED),
        FAKE_OPENAI_KEY="oai-key",
        SMARTHUB_AUTH__SIGNUP_GRANT="10",
    )


@pytest.fixture
async def sdk(live_server: LiveServer) -> AsyncIterator[Callable[[str], openai.AsyncOpenAI]]:
    """`sdk(api_key)`: the official async client pointed at the live server's /v1, no retries."""
    clients: list[openai.AsyncOpenAI] = []

    def make(api_key: str) -> openai.AsyncOpenAI:
        client = openai.AsyncOpenAI(base_url=f"{live_server.url}/v1", api_key=api_key, max_retries=0, timeout=30)
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.close()


async def account(services: Services, email: str | None = None, scopes: list[str] | None = None) -> tuple[str, str]:
    user_id, _ = await make_user_with_token(services, email)
    return user_id, await make_api_key(services, user_id, scopes=scopes)


def micro(credits: str) -> int:
    return int(Decimal(credits) * MICRO)


async def balance(services: Services, user_id: str) -> tuple[int, int]:
    info = await services.ledger.balance(user_id)
    return info.balance, info.held


async def usage_rows(services: Services, user_id: str) -> list[tuple[str, str | None, int]]:
    rows = await services.db.fetch(
        "SELECT status, error_code, cost FROM usage_events WHERE user_id = :u ORDER BY id", {"u": user_id}
    )
    return [(r.status, r.error_code, r.cost) for r in rows]


def price_of(services: Services, model: str, usage) -> int:
    return pricing.chat_cost(services.settings.models[model].price, usage.prompt_tokens, usage.completion_tokens)


HELLO = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Say hello"}]


# --- answers and charges ---------------------------------------------------------------------


@pytest.mark.parametrize("model", ["demo-chat", "smart"])
async def test_completion_is_charged_exactly(services, sdk, fake_openai, model):
    fake_openai.script(Reply(text="Hello from fake OpenAI", input_tokens=11, output_tokens=5))
    user_id, key = await account(services)
    raw = await sdk(key).chat.completions.with_raw_response.create(model=model, messages=HELLO, max_tokens=64)
    completion = raw.parse()
    assert completion.object == "chat.completion" and completion.id.startswith("chatcmpl-")
    assert completion.model == model and isinstance(completion.created, int)
    choice = completion.choices[0]
    assert choice.message.role == "assistant" and choice.message.content
    assert choice.finish_reason in {"stop", "length"}
    usage = completion.usage
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens > 0
    extras = completion.model_extra["smarthub"]
    charged = micro(extras["credits_charged"])
    assert charged == price_of(services, model, usage) > 0
    assert raw.headers["x-smarthub-credits-charged"] == extras["credits_charged"]
    assert await balance(services, user_id) == (GRANT - charged, 0)
    assert micro(extras["balance"]) == GRANT - charged
    if model == "smart":
        assert choice.message.content == "Hello from fake OpenAI" and extras["provider"] == "oai"
        assert (usage.prompt_tokens, usage.completion_tokens) == (11, 5)
        sent = fake_openai.requests[-1]["body"]
        assert sent["messages"][0] == {"role": "system", "content": "Be brief."} and sent["max_tokens"] == 64


async def test_default_max_tokens_fits_a_small_model_and_text_parts_are_joined(services, sdk, fake_openai):
    """`smart` allows 256 output tokens; the chat tool's default (1024) is lowered to it, not refused."""
    user_id, key = await account(services)
    messages = [{"role": "developer", "content": [{"type": "text", "text": "Rule one."}]},
                {"role": "user", "content": [{"type": "text", "text": "part one"}, {"type": "text", "text": "two"}]}]
    completion = await sdk(key).chat.completions.create(model="smart", messages=messages, temperature=0.5,
                                                        user="someone", seed=7, top_p=1)
    sent = fake_openai.requests[-1]["body"]
    assert sent["max_tokens"] == 256 and sent["temperature"] == 0.5
    assert sent["messages"] == [{"role": "system", "content": "Rule one."},
                                {"role": "user", "content": "part one\ntwo"}]
    charged = micro(completion.model_extra["smarthub"]["credits_charged"])
    assert await balance(services, user_id) == (GRANT - charged, 0)


@pytest.mark.parametrize("model", ["demo-chat", "smart"])
async def test_stream_with_usage_is_charged_exactly(services, sdk, fake_openai, model):
    fake_openai.script(Reply(text="one two three four five", input_tokens=9, output_tokens=5))
    user_id, key = await account(services)
    stream = await sdk(key).chat.completions.create(
        model=model, messages=HELLO, max_completion_tokens=50, stream=True, stream_options={"include_usage": True}
    )
    chunks = []
    with anyio.fail_after(30):
        async for chunk in stream:
            chunks.append(chunk)
    assert chunks[0].choices[0].delta.role == "assistant"
    assert all(c.object == "chat.completion.chunk" and c.model == model for c in chunks)
    assert len({c.id for c in chunks}) == 1
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finishes in (["stop"], ["length"])
    usage_chunk = chunks[-1]
    assert usage_chunk.choices == [] and usage_chunk.usage is not None
    charged = micro(usage_chunk.model_extra["smarthub"]["credits_charged"])
    assert charged == price_of(services, model, usage_chunk.usage) > 0
    assert await balance(services, user_id) == (GRANT - charged, 0)
    if model == "smart":
        assert text == "one two three four five"
        assert fake_openai.requests[-1]["body"]["stream"] is True
    else:
        assert len([c for c in chunks if c.choices and c.choices[0].delta.content]) > 1, "streamed in pieces"


async def test_stream_without_usage_option_has_no_usage_chunk(services, sdk):
    user_id, key = await account(services)
    stream = await sdk(key).chat.completions.create(model="demo-chat", messages=HELLO, max_tokens=20, stream=True)
    chunks = [chunk async for chunk in stream]
    assert all(c.choices for c in chunks) and chunks[-1].choices[0].finish_reason in {"stop", "length"}
    charged = micro(chunks[-1].model_extra["smarthub"]["credits_charged"])
    assert await balance(services, user_id) == (GRANT - charged, 0)


async def test_stream_broken_midway_charges_only_what_was_produced(services, sdk, fake_openai):
    fake_openai.script(BreakStream(text="alpha beta gamma delta", after=2))
    user_id, key = await account(services)
    stream = await sdk(key).chat.completions.create(
        model="smart", messages=HELLO, max_tokens=50, stream=True, stream_options={"include_usage": True}
    )
    chunks = []
    with pytest.raises(openai.APIError) as info, anyio.fail_after(30):
        async for chunk in stream:
            chunks.append(chunk)
    assert info.value.code == "stream_interrupted"
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "alpha beta"
    usage_chunk = chunks[-1]
    assert usage_chunk.choices == [] and usage_chunk.model_extra["smarthub"]["finish_reason"] == "interrupted"
    charged = micro(usage_chunk.model_extra["smarthub"]["credits_charged"])
    assert charged == price_of(services, "smart", usage_chunk.usage)
    assert await balance(services, user_id) == (GRANT - charged, 0)
    entries, _ = await services.ledger.history(user_id, kinds=["usage"])
    assert [e.amount for e in entries] == [-charged]


async def test_client_leaving_before_the_first_piece_is_charged_nothing(services, sdk, fake_openai):
    fake_openai.script(Hang())
    user_id, key = await account(services)
    call = asyncio.create_task(
        sdk(key).chat.completions.create(model="smart", messages=HELLO, max_tokens=50, stream=True)
    )
    # Neither the fake nor the server signals these moments: poll their effects, bounded.
    with anyio.fail_after(10):
        while not fake_openai.requests:  # noqa: ASYNC110 -- the hold is taken before the provider is called
            await anyio.sleep(0.01)
    assert (await balance(services, user_id))[1] > 0
    call.cancel()
    with anyio.fail_after(10):
        while (await balance(services, user_id))[1]:  # noqa: ASYNC110 -- the hold is released
            await anyio.sleep(0.02)
    assert await balance(services, user_id) == (GRANT, 0)
    assert await usage_rows(services, user_id) == [("cancelled", "cancelled", 0)]


# --- errors ------------------------------------------------------------------------------------


async def test_insufficient_credits_is_402_and_charges_nothing(services, sdk):
    user_id, key = await account(services)
    with pytest.raises(openai.APIStatusError) as info:
        await sdk(key).chat.completions.create(model="pricey", messages=HELLO)
    error = info.value
    assert error.status_code == 402 and error.code == "insufficient_credits" and error.type == "insufficient_quota"
    assert await balance(services, user_id) == (GRANT, 0)


async def test_unknown_model_is_404_in_openai_shape(services, sdk):
    user_id, key = await account(services)
    with pytest.raises(openai.NotFoundError) as info:
        await sdk(key).chat.completions.create(model="no-such-model", messages=HELLO, stream=True)
    assert info.value.code == "unknown_model" and info.value.param == "model"
    assert info.value.type == "invalid_request_error"
    assert await balance(services, user_id) == (GRANT, 0)


async def test_bad_key_is_401(sdk):
    with pytest.raises(openai.AuthenticationError) as info:
        await sdk("shk_not_a_real_key").chat.completions.create(model="demo-chat", messages=HELLO)
    assert info.value.type == "authentication_error" and info.value.code == "unauthenticated"
    assert "www-authenticate" in info.value.response.headers
    with pytest.raises(openai.AuthenticationError):
        await sdk("not.a.jwt").models.list()


async def test_jwt_works_as_the_api_key(services, sdk):
    user_id, token = await make_user_with_token(services)
    completion = await sdk(token).chat.completions.create(model="demo-chat", messages=HELLO, max_tokens=8)
    charged = micro(completion.model_extra["smarthub"]["credits_charged"])
    assert await balance(services, user_id) == (GRANT - charged, 0)


async def test_key_without_chat_scope_is_403(services, sdk):
    user_id, key = await account(services, scopes=["credits:read"])
    with pytest.raises(openai.PermissionDeniedError) as info:
        await sdk(key).chat.completions.create(model="demo-chat", messages=HELLO, stream=True)
    assert info.value.type == "permission_error" and info.value.code == "forbidden"
    assert await balance(services, user_id) == (GRANT, 0)


async def test_rate_limit_is_429_with_retry_after_and_reserves_nothing(services, sdk):
    user_id, key = await account(services, email=LIMITED)
    client = sdk(key)
    first = await client.chat.completions.create(model="demo-chat", messages=HELLO, max_tokens=16)
    charged = micro(first.model_extra["smarthub"]["credits_charged"])
    with pytest.raises(openai.RateLimitError) as info:
        await client.chat.completions.create(model="demo-chat", messages=HELLO, max_tokens=16)
    assert info.value.code == "rate_limited" and info.value.type == "rate_limit_error"
    assert int(info.value.response.headers["retry-after"]) >= 1
    assert await balance(services, user_id) == (GRANT - charged, 0)
    assert await usage_rows(services, user_id) == [("ok", None, charged), ("rejected", "rate_limited", 0)]


async def test_refused_parameters_name_the_parameter(services, sdk):
    user_id, key = await account(services)
    client = sdk(key)
    tool = {"type": "function", "function": {"name": "f", "parameters": {"type": "object", "properties": {}}}}
    cases = [
        ({"n": 2}, "n"),
        ({"tools": [tool]}, "tools"),
        ({"response_format": {"type": "json_object"}}, "response_format"),
        ({"stop": ["\n"]}, "stop"),
        ({"logprobs": True}, "logprobs"),
        ({"extra_body": {"frobnicate": 1}}, "frobnicate"),
    ]
    for extra, param in cases:
        with pytest.raises(openai.BadRequestError) as info:
            await client.chat.completions.create(model="demo-chat", messages=HELLO, **extra)
        assert info.value.param == param, (extra, info.value.body)
        assert info.value.code == "unsupported_parameter" and param in info.value.message
    # Their neutral values are accepted.
    await client.chat.completions.create(model="demo-chat", messages=HELLO, max_tokens=8, n=1,
                                         response_format={"type": "text"}, tool_choice="none")
    assert (await balance(services, user_id))[1] == 0


LONG = "x" * 400_001
BAD_BODIES: list[tuple[bytes | dict, str | None]] = [
    (b"{not json", None),
    (b"[1, 2]", None),
    (b'"text"', None),
    (b"", None),
    ({"messages": HELLO}, "model"),
    ({"model": 5, "messages": HELLO}, "model"),
    ({"model": "demo-chat"}, "messages"),
    ({"model": "demo-chat", "messages": []}, "messages"),
    ({"model": "demo-chat", "messages": "hi"}, "messages"),
    ({"model": "demo-chat", "messages": ["hi"]}, "messages[0]"),
    ({"model": "demo-chat", "messages": [{"role": "tool", "content": "x", "tool_call_id": "t"}]}, "messages[0].role"),
    ({"model": "demo-chat", "messages": [{"content": "x"}]}, "messages[0].role"),
    ({"model": "demo-chat", "messages": [{"role": "user", "content": None}]}, "messages[0].content"),
    ({"model": "demo-chat", "messages": [{"role": "user", "content": 12}]}, "messages[0].content"),
    ({"model": "demo-chat", "messages": [{"role": "user", "content": [
        {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}}]}]}, "messages[0].content[0]"),
    ({"model": "demo-chat", "messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "",
      "tool_calls": [{"id": "c", "type": "function", "function": {"name": "f", "arguments": "{}"}}]}]},
     "messages[1].tool_calls"),
    ({"model": "demo-chat", "messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]},
     "messages"),
    ({"model": "demo-chat", "messages": [{"role": "system", "content": "only rules"}]}, "messages"),
    ({"model": "demo-chat", "messages": [{"role": "system", "content": "s"}, {"role": "user", "content": LONG}]},
     "messages[1].content"),
    ({"model": "demo-chat", "messages": HELLO, "max_tokens": "lots"}, "max_tokens"),
    ({"model": "demo-chat", "messages": HELLO, "max_tokens": 12.5}, "max_tokens"),
    ({"model": "demo-chat", "messages": HELLO, "max_tokens": True}, "max_tokens"),
    ({"model": "demo-chat", "messages": HELLO, "max_tokens": 0}, "max_tokens"),
    ({"model": "demo-chat", "messages": HELLO, "max_completion_tokens": 10_000_000}, "max_completion_tokens"),
    ({"model": "smart", "messages": HELLO, "max_tokens": 1000}, None),  # above the model's 256
    ({"model": "demo-chat", "messages": HELLO, "temperature": "hot"}, "temperature"),
    ({"model": "demo-chat", "messages": HELLO, "temperature": 3}, "temperature"),
    ({"model": "demo-chat", "messages": HELLO, "stream": "yes"}, "stream"),
    ({"model": "demo-chat", "messages": HELLO, "stream": True, "stream_options": []}, "stream_options"),
    ({"model": "demo-chat", "messages": HELLO, "stream": True, "stream_options": {"include_usage": 1}},
     "stream_options.include_usage"),
    ({"model": "demo-chat", "messages": HELLO, "functions": [{"name": "f"}]}, "functions"),
]


async def test_bad_input_is_a_clean_400_and_charges_nothing(services, live_server):
    user_id, key = await account(services)
    async with httpx.AsyncClient(base_url=f"{live_server.url}/v1", headers=bearer(key)) as http:
        for body, param in BAD_BODIES:
            content = body if isinstance(body, bytes) else json.dumps(body).encode()
            response = await http.post("/chat/completions", content=content,
                                       headers={"content-type": "application/json"})
            assert response.status_code == 400, (body, response.status_code, response.text[:300])
            error = response.json()["error"]
            assert {"message", "type", "param", "code"} <= set(error), error
            assert error["type"] == "invalid_request_error" and error["param"] == param, (body, error)
            assert "Traceback" not in response.text
        too_big = b'{"model": "demo-chat", "messages": [], "pad": "' + b"x" * 1_000_001 + b'"}'
        response = await http.post("/chat/completions", content=too_big)
        assert response.status_code == 413 and response.json()["error"]["code"] == "payload_too_large"
        # Endpoints and methods we do not serve still answer in OpenAI's shape.
        for method, path, status in [("GET", "/chat/completions", 405), ("POST", "/embeddings", 404)]:
            response = await http.request(method, path, json={})
            assert response.status_code == status
            assert response.json()["error"]["type"] == "invalid_request_error"
    assert await balance(services, user_id) == (GRANT, 0)


# --- models ------------------------------------------------------------------------------------


async def test_models_lists_the_chat_models_that_can_answer(services, sdk):
    _, key = await account(services)
    client = sdk(key)
    models = [m async for m in client.models.list()]
    assert {m.id for m in models} == {"demo-chat", "smart", "pricey"}  # "offline" has no provider key
    assert all(m.object == "model" and m.owned_by == "smarthub" and m.created == 0 for m in models)
    assert (await client.models.retrieve("smart")).id == "smart"
    with pytest.raises(openai.NotFoundError):
        await client.models.retrieve("offline")
