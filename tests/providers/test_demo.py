"""The demo provider: deterministic, offline, usage reported like a real provider."""

from __future__ import annotations

from smarthub_mcp.providers.base import ChatMessage, ChatProvider, ChatRequest, StreamEnd, TextDelta
from smarthub_mcp.providers.demo import DemoProvider

REQUEST = ChatRequest(messages=(ChatMessage("user", "tell me about credits"),), max_tokens=200,
                      upstream="demo-chat-1")


async def test_demo_is_deterministic_and_reports_usage() -> None:
    provider = DemoProvider()
    assert isinstance(provider, ChatProvider)
    first, second = await provider.complete(REQUEST), await provider.complete(REQUEST)
    assert first.text == second.text and "tell me about credits" in first.text
    assert first.input_tokens > 0 and first.output_tokens > 0 and first.finish_reason == "stop"


async def test_demo_stream_matches_complete() -> None:
    provider = DemoProvider()
    events = [e async for e in provider.stream(REQUEST)]
    result = await provider.complete(REQUEST)
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == result.text
    assert events[-1] == StreamEnd("demo-chat-1", result.input_tokens, result.output_tokens, "stop")


async def test_demo_honours_max_tokens() -> None:
    from dataclasses import replace

    result = await DemoProvider().complete(replace(REQUEST, max_tokens=3))
    assert result.finish_reason == "length" and result.output_tokens <= 3
