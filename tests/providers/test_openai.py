"""The OpenAI adapter through the real SDK against a loopback fake speaking the wire format."""

from __future__ import annotations

import pytest

from smarthub_mcp.config import ProviderConfig
from smarthub_mcp.errors import ProviderError, ProviderRejected
from smarthub_mcp.providers.base import ChatMessage, ChatRequest, StreamEnd, StreamInterrupted, TextDelta
from smarthub_mcp.providers.openai import OpenAIProvider
from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.script import BreakStream, Fail, Hang, Malformed, Reply
from tests.providers import failing

REQUEST = ChatRequest(messages=(ChatMessage("user", "Say hello"),), system="Be brief", max_tokens=50,
                      upstream="gpt-4o-mini")


def provider_for(fake: FakeOpenAI, **overrides: object) -> OpenAIProvider:
    fields: dict[str, object] = {"timeout_seconds": 5, "max_retries": 0, **overrides}
    config = ProviderConfig(type="openai", base_url=fake.url + "/v1", **fields)  # type: ignore[arg-type]
    return OpenAIProvider("openai", config, api_key=fake.api_key)


async def failure_of(
    fake: FakeOpenAI, behaviour: object, *, stream: bool = False, **overrides: object
) -> ProviderError:
    return await failing.failure_of(fake, provider_for(fake, **overrides), REQUEST, behaviour, stream=stream)


async def test_complete_reports_text_usage_and_model(fake_openai: FakeOpenAI) -> None:
    fake_openai.script(Reply("Hi there", input_tokens=11, output_tokens=2, model="gpt-4o-mini-2024-07-18"))
    provider = provider_for(fake_openai)
    try:
        result = await provider.complete(REQUEST)
    finally:
        await provider.aclose()
    assert (result.text, result.input_tokens, result.output_tokens) == ("Hi there", 11, 2)
    assert result.upstream_model == "gpt-4o-mini-2024-07-18"
    assert result.finish_reason == "stop"
    sent = fake_openai.requests[0]
    assert sent["headers"]["authorization"] == "Bearer test-key"
    assert sent["body"]["messages"][0] == {"role": "system", "content": "Be brief"}
    assert sent["body"]["max_tokens"] == 50  # a non-OpenAI base URL gets the compatible parameter


async def test_stream_yields_deltas_then_usage(fake_openai: FakeOpenAI) -> None:
    fake_openai.script(Reply("one two three", input_tokens=7, output_tokens=3, finish="length"))
    provider = provider_for(fake_openai)
    try:
        events = [e async for e in provider.stream(REQUEST)]
    finally:
        await provider.aclose()
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == "one two three"
    assert events[-1] == StreamEnd("gpt-4o-mini", 7, 3, "length")
    assert fake_openai.requests[0]["body"]["stream_options"] == {"include_usage": True}


async def test_stream_without_usage_is_estimated(fake_openai: FakeOpenAI) -> None:
    fake_openai.script(Reply("one two three", usage=False))
    provider = provider_for(fake_openai)
    try:
        events = [e async for e in provider.stream(REQUEST)]
    finally:
        await provider.aclose()
    end = events[-1]
    assert isinstance(end, StreamEnd) and end.input_tokens > 0 and end.output_tokens >= 3


@pytest.mark.parametrize(
    ("behaviour", "status", "retryable"),
    [
        (Fail(429, "requests", "rate_limit_exceeded", headers={"retry-after": "7"}), 429, True),
        (Fail(500), 500, True),
        (Fail(503), 503, True),
        (Fail(401, "invalid_request_error", "invalid_api_key"), 401, False),
        (Malformed(), None, True),
    ],
)
async def test_errors_are_classified(fake_openai: FakeOpenAI, behaviour: object, status: int | None,
                                     retryable: bool) -> None:
    error = await failure_of(fake_openai, behaviour)
    assert (error.upstream_status, error.retryable) == (status, retryable)
    assert error.provider == "openai"
    assert "fake failure" not in error.message  # the provider's body never leaks
    if status == 429:
        assert error.retry_after == 7


@pytest.mark.parametrize(
    "body",
    [
        "[1, 2]",
        '"just text"',
        '{"choices": []}',
        '{"choices": [{"message": {"content": 5}}]}',
        '{"choices": [{"message": {"content": "hi"}}], "usage": {"prompt_tokens": null, "completion_tokens": 1}}',
        # Usage no price can be computed from: the provider's fault, not the caller's.
        '{"choices": [{"message": {"content": "hi"}}], "usage": {"prompt_tokens": -5, "completion_tokens": 1}}',
        '{"choices": [{"message": {"content": "hi"}}], "usage": {"prompt_tokens": 1, "completion_tokens": 1.5}}',
        '{"choices": [{"message": {"content": "hi"}}], "usage": {"prompt_tokens": "3", "completion_tokens": 1}}',
    ],
)
async def test_a_body_of_the_wrong_shape_is_malformed(fake_openai: FakeOpenAI, body: str) -> None:
    """Answers are read as plain JSON: any shape but a chat completion's is the provider's fault."""
    error = await failure_of(fake_openai, Malformed(body))
    assert error.details["reason"] == "malformed" and error.retryable


async def test_a_streamed_chunk_of_the_wrong_shape_is_malformed(fake_openai: FakeOpenAI) -> None:
    chunk = 'data: {"choices": [{"delta": {"content": 5}}]}\n\ndata: [DONE]\n\n'
    error = await failure_of(fake_openai, Malformed(chunk), stream=True)
    assert error.details["reason"] == "malformed"


@pytest.mark.parametrize("body", ["data: [DONE]\n\n", "garbage, not an event stream\n\n", ""])
async def test_a_stream_with_no_answer_at_all_is_malformed_not_an_empty_answer(fake_openai: FakeOpenAI, body: str):
    """An empty or garbage stream is the provider's fault (the router may fall back; nothing is
    charged), unlike a real empty answer, which ends with a finish reason."""
    error = await failure_of(fake_openai, Malformed(body), stream=True)
    assert error.details["reason"] == "malformed" and error.retryable


async def test_content_policy_is_rejected_not_retried(fake_openai: FakeOpenAI) -> None:
    error = await failure_of(fake_openai, Fail(400, "invalid_request_error", "content_policy_violation"))
    assert isinstance(error, ProviderRejected)
    assert error.code == "provider_rejected" and not error.retryable
    assert error.details["reason"] == "content_policy"


async def test_timeout_is_retryable(fake_openai: FakeOpenAI) -> None:
    error = await failure_of(fake_openai, Hang(), timeout_seconds=0.3)
    assert error.retryable and error.details["reason"] == "timeout"


@pytest.mark.parametrize("error_event", [False, True])
async def test_broken_stream_reports_partial_usage(fake_openai: FakeOpenAI, error_event: bool) -> None:
    fake_openai.script(BreakStream("alpha beta gamma delta", after=2, error_event=error_event))
    provider = provider_for(fake_openai)
    received: list[str] = []
    try:
        with pytest.raises(StreamInterrupted) as info:
            async for event in provider.stream(REQUEST):
                assert isinstance(event, TextDelta)
                received.append(event.text)
    finally:
        await provider.aclose()
    assert "".join(received) == "alpha beta"
    assert info.value.retryable
    assert info.value.partial_usage.output_tokens >= 2 and info.value.partial_usage.input_tokens > 0


async def test_stream_broken_before_text_is_a_plain_error(fake_openai: FakeOpenAI) -> None:
    error = await failure_of(fake_openai, BreakStream("alpha", after=0), stream=True)
    assert not isinstance(error, StreamInterrupted) and error.retryable
