"""The Anthropic adapter through the real SDK against a loopback fake speaking the wire format."""

from __future__ import annotations

import pytest

from smarthub_mcp.config import ProviderConfig
from smarthub_mcp.errors import ProviderError, ProviderRejected
from smarthub_mcp.providers.anthropic import AnthropicProvider
from smarthub_mcp.providers.base import ChatMessage, ChatRequest, StreamEnd, StreamInterrupted, TextDelta
from tests.fakes.anthropic_server import FakeAnthropic
from tests.fakes.script import BreakStream, Fail, Hang, Malformed, Reply
from tests.providers import failing

REQUEST = ChatRequest(messages=(ChatMessage("user", "Say hello"),), system="Be brief", max_tokens=64,
                      upstream="claude-fake-1")


def provider_for(fake: FakeAnthropic, timeout: float = 5) -> AnthropicProvider:
    config = ProviderConfig(type="anthropic", base_url=fake.url, timeout_seconds=timeout, max_retries=0)
    return AnthropicProvider("anthropic", config, api_key=fake.api_key)


async def failure_of(
    fake: FakeAnthropic, behaviour: object, *, stream: bool = False, timeout_seconds: float = 5
) -> ProviderError:
    return await failing.failure_of(fake, provider_for(fake, timeout_seconds), REQUEST, behaviour, stream=stream)


async def test_complete_sends_system_and_max_tokens(fake_anthropic: FakeAnthropic) -> None:
    fake_anthropic.script(Reply("Hello!", input_tokens=12, output_tokens=6, finish="max_tokens"))
    provider = provider_for(fake_anthropic)
    try:
        result = await provider.complete(REQUEST)
    finally:
        await provider.aclose()
    assert (result.text, result.input_tokens, result.output_tokens) == ("Hello!", 12, 6)
    assert result.finish_reason == "length"
    body = fake_anthropic.requests[0]["body"]
    assert body["system"] == "Be brief" and body["max_tokens"] == 64
    assert body["messages"] == [{"role": "user", "content": "Say hello"}]


async def test_stream_yields_deltas_then_usage(fake_anthropic: FakeAnthropic) -> None:
    fake_anthropic.script(Reply("one two three", input_tokens=12, output_tokens=3, finish="refusal"))
    provider = provider_for(fake_anthropic)
    try:
        events = [e async for e in provider.stream(REQUEST)]
    finally:
        await provider.aclose()
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == "one two three"
    assert events[-1] == StreamEnd("claude-fake-1", 12, 3, "content_filter")


@pytest.mark.parametrize(
    ("behaviour", "status", "retryable"),
    [
        (Fail(429, headers={"retry-after": "3"}), 429, True),
        (Fail(500), 500, True),
        (Fail(529), 529, True),
        (Fail(401), 401, False),
        (Malformed(), None, True),
    ],
)
async def test_errors_are_classified(fake_anthropic: FakeAnthropic, behaviour: object, status: int | None,
                                     retryable: bool) -> None:
    error = await failure_of(fake_anthropic, behaviour)
    assert (error.upstream_status, error.retryable) == (status, retryable)
    if status == 429:
        assert error.retry_after == 3


async def test_bad_request_is_rejected(fake_anthropic: FakeAnthropic) -> None:
    error = await failure_of(fake_anthropic, Fail(400))
    assert isinstance(error, ProviderRejected)
    assert not error.retryable


@pytest.mark.parametrize(
    "body",
    [
        "[1, 2]",
        '{"content": [{"type": "text", "text": 5}], "usage": {"input_tokens": 1, "output_tokens": 1}}',
        '{"content": [{"type": "text", "text": "hi"}]}',
        '{"content": [{"type": "text", "text": "hi"}], "usage": {"input_tokens": null, "output_tokens": 1}}',
        '{"content": [{"type": "text", "text": "hi"}], "usage": {"input_tokens": 2, "output_tokens": -1}}',
    ],
)
async def test_a_body_of_the_wrong_shape_is_malformed(fake_anthropic: FakeAnthropic, body: str) -> None:
    """Answers are read as plain JSON: any shape but a message's is the provider's fault."""
    error = await failure_of(fake_anthropic, Malformed(body))
    assert error.details["reason"] == "malformed" and error.retryable


async def test_a_streamed_event_of_the_wrong_shape_is_malformed(fake_anthropic: FakeAnthropic) -> None:
    event = 'event: message_start\ndata: {"type": "message_start", "message": {"usage": {}}}\n\n'
    error = await failure_of(fake_anthropic, Malformed(event), stream=True)
    assert error.details["reason"] == "malformed"


@pytest.mark.parametrize(
    "body", ["", "garbage, not an event stream\n\n", 'event: ping\ndata: {"type": "ping"}\n\n']
)
async def test_a_stream_with_no_answer_at_all_is_malformed(fake_anthropic: FakeAnthropic, body: str) -> None:
    error = await failure_of(fake_anthropic, Malformed(body), stream=True)
    assert error.details["reason"] == "malformed" and error.retryable


async def test_timeout_is_retryable(fake_anthropic: FakeAnthropic) -> None:
    error = await failure_of(fake_anthropic, Hang(), timeout_seconds=0.3)
    assert error.retryable and error.details["reason"] == "timeout"


@pytest.mark.parametrize("error_event", [False, True])
async def test_broken_stream_reports_partial_usage(fake_anthropic: FakeAnthropic, error_event: bool) -> None:
    fake_anthropic.script(BreakStream("alpha beta gamma", after=2, error_event=error_event))
    provider = provider_for(fake_anthropic)
    received: list[str] = []
    try:
        with pytest.raises(StreamInterrupted) as info:
            async for event in provider.stream(REQUEST):
                received.append(event.text)  # type: ignore[union-attr]
    finally:
        await provider.aclose()
    assert "".join(received) == "alpha beta"
    assert info.value.partial_usage.input_tokens == 9  # from message_start, not estimated
    assert info.value.partial_usage.output_tokens >= 2
    if error_event:
        assert info.value.upstream_status == 529
