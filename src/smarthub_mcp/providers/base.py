"""The chat protocol every provider adapter speaks, and the values that cross it.

An adapter (`demo`, `openai`, `anthropic`) is a `ChatProvider`:

    result = await provider.complete(request)        # -> ChatResult
    async for event in provider.stream(request):     # -> TextDelta..., then exactly one StreamEnd
        ...

Adapters turn every SDK failure into one `ProviderError` (errors.py) with a safe message, the
upstream HTTP status (None for timeouts and connection errors), `retryable` and `retry_after`.
They never retry across routes and never touch the database; the router (router.py) picks routes,
retries on the next one and fills in `ChatResult.route`, `model` and `attempts`.

A stream that breaks after text was produced raises `StreamInterrupted`, which carries the usage
produced so far (`partial_usage`), so the router can end the stream with what was delivered and
charge only that.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace
from typing import Any, Literal, Protocol, runtime_checkable

from smarthub_mcp.errors import ProviderError

Role = Literal["user", "assistant"]
FinishReason = Literal["stop", "length", "content_filter", "tool_calls", "interrupted", "other"]
"""Normalized finish reasons. `interrupted`: the stream broke midway and the text is partial."""


@dataclass(frozen=True, slots=True)
class ChatMessage:
    role: Role
    content: str


@dataclass(frozen=True, slots=True)
class ChatRequest:
    """What a caller asks for. `upstream` is set by the router to the route's upstream model name."""

    messages: tuple[ChatMessage, ...]
    system: str | None = None
    max_tokens: int = 1024
    temperature: float | None = None
    upstream: str = ""

    def for_upstream(self, upstream: str) -> ChatRequest:
        return replace(self, upstream=upstream)


@dataclass(frozen=True, slots=True)
class Usage:
    input_tokens: int = 0
    output_tokens: int = 0


@dataclass(frozen=True, slots=True)
class Attempt:
    """One call to one route, successful or not: what metrics and usage rows are built from."""

    provider: str
    upstream: str
    route_index: int
    ok: bool
    latency_ms: int
    error_code: str | None = None
    upstream_status: int | None = None
    retryable: bool = False
    input_tokens: int = 0
    output_tokens: int = 0


@dataclass(frozen=True, slots=True)
class ChatResult:
    """A finished chat. Exactly one route answered it: `provider`/`upstream_model`/`route_index`.

    Charge the user once, for `input_tokens`/`output_tokens` at the model's price. `partial` is True
    when a stream broke after delivering text: the usage then covers only what was produced.
    `attempts` lists every call made (failed ones first, the answering one last).
    """

    text: str
    upstream_model: str
    provider: str
    input_tokens: int
    output_tokens: int
    finish_reason: FinishReason
    latency_ms: int
    model: str = ""
    route_index: int = -1
    partial: bool = False
    attempts: tuple[Attempt, ...] = field(default_factory=tuple)

    @property
    def route(self) -> str:
        """`provider/upstream`: the route that answered, for logs and usage rows."""
        return f"{self.provider}/{self.upstream_model}"


@dataclass(frozen=True, slots=True)
class TextDelta:
    """A piece of text, in order; concatenated they are the answer."""

    text: str


@dataclass(frozen=True, slots=True)
class StreamEnd:
    """The last event of a provider stream: usage and how it ended."""

    upstream_model: str
    input_tokens: int
    output_tokens: int
    finish_reason: FinishReason


StreamEvent = TextDelta | StreamEnd


@dataclass(frozen=True, slots=True)
class StreamDone:
    """The last event of a router stream: the finished (maybe `partial`) result to charge."""

    result: ChatResult


class StreamInterrupted(ProviderError):
    """A stream broke after it had produced text; `partial_usage` is what was produced so far."""

    code = "provider_stream_interrupted"

    def __init__(self, cause: ProviderError, *, partial_usage: Usage) -> None:
        super().__init__(
            "The AI provider's answer was cut off",
            upstream_status=cause.upstream_status,
            retryable=cause.retryable,
            retry_after=cause.retry_after,
            provider=cause.provider,
        )
        self.partial_usage = partial_usage


@runtime_checkable
class ChatProvider(Protocol):
    """An upstream that can chat. `name` is the provider's config key (`settings.providers[name]`)."""

    name: str

    async def complete(self, request: ChatRequest) -> ChatResult: ...

    def stream(self, request: ChatRequest) -> AsyncIterator[StreamEvent]:
        """TextDelta events, then one StreamEnd. Raises ProviderError (StreamInterrupted after text)."""
        ...

    async def aclose(self) -> None: ...


def answer_text(value: Any) -> str:
    """Text from a provider's parsed JSON answer (a message's content, a block's or a delta's
    text): a string, or nothing (None). Anything else is a malformed body: the TypeError becomes
    the adapter's `malformed` ProviderError."""
    if value is None:
        return ""
    if not isinstance(value, str):
        raise TypeError("text is not a string")
    return value


def token_count(value: Any) -> int:
    """A token count from a provider's usage: a whole number, zero or more (an integral float such
    as 12.0 passes). Anything else (negative, fractional, text) is a malformed body, like a wrong
    text: the TypeError becomes the adapter's `malformed` ProviderError, never a price computed
    from it."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise TypeError("a token count is not a whole number of zero or more")
    return value

