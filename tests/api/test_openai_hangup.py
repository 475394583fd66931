"""A client that hangs up on a streamed `/v1/chat/completions`, through the real `openai` SDK against
a live server and the loopback fake OpenAI, paced by a `Gate` so the hang-up lands at a known point.

What a departed client owes: the text it was sent (input estimate plus the output produced, both as
upper bounds), charged from its hold, with the rest released and the call on record as `cancelled`;
nothing at all when it left before any text. The fake sees its stream abandoned: the server stops
the provider call instead of paying for an answer nobody reads.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator
from typing import Any

import anyio
import openai
import pytest

from smarthub_mcp.billing import pricing
from smarthub_mcp.billing.money import format_credits
from smarthub_mcp.credits import MICRO
from smarthub_mcp.providers.base import ChatMessage
from smarthub_mcp.providers.tokens import count_text_tokens, estimate_input_tokens
from smarthub_mcp.services import Services
from tests.conftest import LiveServer
from tests.factories import make_api_key, make_user_with_token
from tests.fakes.script import Gate, Reply

TOML = """
[providers.oai]
type = "openai"
base_url = "{openai}/v1"
api_key_env = "FAKE_OPENAI_KEY"

[models.smart]
kind = "chat"
routes = [{{ provider = "oai", upstream = "gpt-fake" }}]
price = {{ input_per_million = 2, output_per_million = 8 }}
"""
GRANT = 10 * MICRO
MAX_TOKENS = 50
HELLO = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Say hello"}]
ANSWER = "alpha beta gamma delta epsilon"


@pytest.fixture
def config(make_config, fake_openai):
    return make_config(toml=TOML.format(openai=fake_openai.url), FAKE_OPENAI_KEY="oai-key",
                       SMARTHUB_AUTH__SIGNUP_GRANT="10")


@pytest.fixture
async def client(services: Services, live_server: LiveServer) -> AsyncIterator[tuple[str, openai.AsyncOpenAI]]:
    """(user id, the official async client as that user, pointed at the live server's /v1)."""
    user_id, _ = await make_user_with_token(services)
    key = await make_api_key(services, user_id)
    sdk = openai.AsyncOpenAI(base_url=f"{live_server.url}/v1", api_key=key, max_retries=0, timeout=30)
    yield user_id, sdk
    await sdk.close()


def start(sdk: openai.AsyncOpenAI, request_id: str) -> Any:
    """The streamed request, tagged with our own request id so its usage row can be found."""
    return sdk.chat.completions.create(
        model="smart", messages=HELLO, max_tokens=MAX_TOKENS, stream=True,
        stream_options={"include_usage": True}, extra_headers={"X-Request-ID": request_id},
    )


async def settled(services: Services, user_id: str) -> int:
    """The balance once no hold is left. Settlement is shielded and may finish just after the
    disconnect, and no event marks its end: poll the ledger, bounded."""
    with anyio.fail_after(10):
        while True:
            info = await services.ledger.balance(user_id)
            if info.held == 0:
                return info.balance
            await anyio.sleep(0.02)


async def usage_row(services: Services, request_id: str) -> Any:
    rows = await services.db.fetch(
        "SELECT status, error_code, provider, upstream_model, input_tokens, output_tokens, estimate, cost, hold_id"
        " FROM usage_events WHERE request_id = :r", {"r": request_id},
    )
    assert len(rows) == 1, rows
    return rows[0]


def text_of(chunks: list[Any]) -> str:
    return "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)


def estimate_of(services: Services) -> tuple[int, int]:
    """(input token estimate, reserved estimate) of the HELLO call, as the chat tool computes them."""
    price = services.settings.models["smart"].price
    input_tokens = estimate_input_tokens([ChatMessage("user", "Say hello")], "Be brief.", "gpt-fake")
    return input_tokens, pricing.chat_estimate(price, input_tokens, MAX_TOKENS)


async def test_hangup_mid_stream_charges_exactly_what_was_delivered(services, client, fake_openai):
    user_id, sdk = client
    gate = Gate(after=2)
    fake_openai.script(Reply(text=ANSWER, gate=gate))
    request_id = secrets.token_hex(8)
    before = (await services.ledger.balance(user_id)).balance
    stream = await start(sdk, request_id)
    received: list[str] = []
    with anyio.fail_after(30):
        async for chunk in stream:
            assert chunk.object == "chat.completion.chunk" and chunk.choices
            received.append(chunk.choices[0].delta.content or "")
            if "".join(received) == "alpha beta":
                break
        await gate.reached.wait()
        assert (await services.ledger.balance(user_id)).held > 0, "the call holds its estimate while it streams"
        await stream.close()  # hang up with the answer half read
        await gate.abandoned.wait()  # the server noticed and dropped the provider's stream
    after = await settled(services, user_id)

    row = await usage_row(services, request_id)
    input_tokens, estimate = estimate_of(services)
    delivered = count_text_tokens("alpha beta", "gpt-fake")
    assert (row.status, row.error_code) == ("cancelled", "cancelled")
    assert (row.provider, row.upstream_model) == ("oai", "gpt-fake"), "the route the text came from"
    assert (row.input_tokens, row.output_tokens, row.estimate) == (input_tokens, delivered, estimate)
    assert row.cost == pricing.chat_cost(services.settings.models["smart"].price, input_tokens, delivered)
    assert 0 < row.cost <= row.estimate
    assert after == before - row.cost
    entries, _ = await services.ledger.history(user_id, kinds=["usage"])
    assert [e.amount for e in entries] == [-row.cost]
    assert (await services.ledger.hold(row.hold_id)).status != "open"
    assert await services.ledger.check() == []
    assert not gate.release.is_set(), "the rest of the answer was never sent"


async def test_hangup_before_any_text_charges_nothing(services, client, fake_openai):
    user_id, sdk = client
    gate = Gate(after=0)  # the stream opens (its role chunk), then no text
    fake_openai.script(Reply(text=ANSWER, gate=gate))
    request_id = secrets.token_hex(8)
    # The server answers (headers and all) only with the first piece of text, so the SDK's
    # `create` is still waiting for the response when the client gives up on it.
    call = asyncio.create_task(start(sdk, request_id))
    with anyio.fail_after(30):
        await gate.reached.wait()
        assert (await services.ledger.balance(user_id)).held > 0
        call.cancel()
        await gate.abandoned.wait()
    with pytest.raises(asyncio.CancelledError):
        await call
    assert await settled(services, user_id) == GRANT

    row = await usage_row(services, request_id)
    assert (row.status, row.error_code, row.cost) == ("cancelled", "cancelled", 0)
    assert (await services.ledger.hold(row.hold_id)).status == "released"
    entries, _ = await services.ledger.history(user_id, kinds=["usage"])
    assert entries == []
    assert await services.ledger.check() == []


async def test_held_stream_released_finishes_and_is_charged_in_full(services, client, fake_openai):
    """The control: the same pacing, but the client keeps reading, so the gate itself changes nothing."""
    user_id, sdk = client
    gate = Gate(after=2)
    fake_openai.script(Reply(text=ANSWER, input_tokens=12, output_tokens=5, gate=gate))
    request_id = secrets.token_hex(8)
    stream = await start(sdk, request_id)
    chunks = []
    with anyio.fail_after(30):
        async for chunk in stream:
            chunks.append(chunk)
            if text_of(chunks) == "alpha beta":
                await gate.reached.wait()
                gate.release.set()
    assert text_of(chunks) == ANSWER and not gate.abandoned.is_set()
    usage = chunks[-1].usage
    assert (usage.prompt_tokens, usage.completion_tokens) == (12, 5)
    charged = pricing.chat_cost(services.settings.models["smart"].price, 12, 5)
    assert chunks[-1].model_extra["smarthub"]["credits_charged"] == format_credits(charged)
    row = await usage_row(services, request_id)
    assert (row.status, row.cost) == ("ok", charged)
    assert await settled(services, user_id) == GRANT - charged
    assert await services.ledger.check() == []
