"""Anthropic Messages adapter, on the official `anthropic` SDK.

`AnthropicProvider(name, config, api_key)` creates one `AsyncAnthropic` client with the configured
`base_url`, key, `timeout_seconds` and `max_retries`, reused until `aclose()`. The system prompt goes
in the top-level `system` field, `max_tokens` is always sent (the API requires it), and stop reasons
are mapped to ours: end_turn/stop_sequence/pause_turn -> stop, max_tokens and
model_context_window_exceeded -> length, refusal -> content_filter, tool_use -> tool_calls.

Streams read the raw events: input tokens arrive in `message_start`, output tokens (cumulative) in
`message_delta`; a broken stream reports the last counts seen, or estimates when none came.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import anthropic

from smarthub_mcp.config import ProviderConfig
from smarthub_mcp.providers import failures
from smarthub_mcp.providers.base import (
    ChatRequest,
    ChatResult,
    FinishReason,
    StreamEnd,
    StreamEvent,
    StreamInterrupted,
    TextDelta,
    Usage,
    answer_text,
    token_count,
)
from smarthub_mcp.providers.tokens import count_text_tokens, estimate_input_tokens
from smarthub_mcp.tls import client_tls

STOP_REASONS: dict[str, FinishReason] = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "pause_turn": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "refusal": "content_filter",
    "tool_use": "tool_calls",
}


def stop_reason(raw: str | None) -> FinishReason:
    return STOP_REASONS.get(raw or "end_turn", "other")


MESSAGES_PATH = "/v1/messages"
"""Posted through the client's own `post`, and answers read as the parsed JSON (`cast_to=object`),
as the OpenAI adapter does: `messages.create` and its typed `Message` / stream-event objects
(built with `construct`, which validates nothing) cost more CPU than the adapter's own work.
Auth, the version header, retries, timeouts, error types, JSON and SSE parsing (`error` events
included) are the SDK's either way. A body of the wrong shape is reported as malformed."""




class AnthropicProvider:
    def __init__(self, name: str, config: ProviderConfig, api_key: str) -> None:
        self.name = name
        self.config = config
        self.client = anthropic.AsyncAnthropic(
            api_key=api_key,
            base_url=config.base_url,
            timeout=config.timeout_seconds,
            max_retries=config.max_retries,
            # The SDK's documented aiohttp transport (`anthropic[aiohttp]`), as for OpenAI, where it
            # measured less CPU per call than the default httpx one (not measured for Anthropic).
            http_client=anthropic.DefaultAioHttpClient(timeout=config.timeout_seconds, verify=client_tls()),
        )

    def _params(self, request: ChatRequest) -> dict[str, Any]:
        params: dict[str, Any] = {
            "model": request.upstream,
            "max_tokens": request.max_tokens,
            "messages": [{"role": m.role, "content": m.content} for m in request.messages],
        }
        if request.system:
            params["system"] = request.system
        if request.temperature is not None:
            params["temperature"] = request.temperature
        return params

    async def complete(self, request: ChatRequest) -> ChatResult:
        started = time.monotonic()
        try:
            message: Any = await self.client.post(MESSAGES_PATH, body=self._params(request), cast_to=object)
            blocks = message["content"]
            text = "".join(answer_text(block.get("text")) for block in blocks if block.get("type") == "text")
            usage = message["usage"]
            return ChatResult(
                text=text,
                upstream_model=message.get("model") or request.upstream,
                provider=self.name,
                input_tokens=token_count(usage["input_tokens"]),
                output_tokens=token_count(usage["output_tokens"]),
                finish_reason=stop_reason(message.get("stop_reason")),
                latency_ms=int((time.monotonic() - started) * 1000),
            )
        except Exception as exc:
            raise failures.from_sdk(exc, anthropic, provider=self.name) from None

    async def stream(self, request: ChatRequest) -> AsyncIterator[StreamEvent]:
        produced: list[str] = []
        model = request.upstream
        input_tokens: int | None = None
        output_tokens: int | None = None
        finish: FinishReason = "stop"
        stream: Any = None
        try:
            stream = await self.client.post(
                MESSAGES_PATH,
                body={**self._params(request), "stream": True},
                cast_to=object,
                stream=True,
                stream_cls=anthropic.AsyncStream[object],
            )
            async for event in stream:
                kind = event.get("type")
                if kind == "message_start":
                    model = event["message"].get("model") or model
                    input_tokens = token_count(event["message"]["usage"]["input_tokens"])
                elif kind == "content_block_delta" and event["delta"].get("type") == "text_delta":
                    piece = answer_text(event["delta"].get("text"))
                    if piece:
                        produced.append(piece)
                        yield TextDelta(piece)
                elif kind == "message_delta":
                    finish = stop_reason(event["delta"].get("stop_reason"))
                    output_tokens = token_count(event["usage"]["output_tokens"])
        except Exception as exc:
            error = failures.from_sdk(exc, anthropic, provider=self.name)
            if not produced:
                raise error from None
            usage = Usage(
                input_tokens if input_tokens is not None else
                estimate_input_tokens(request.messages, request.system, request.upstream),
                count_text_tokens("".join(produced), request.upstream),
            )
            raise StreamInterrupted(error, partial_usage=usage) from None
        finally:
            if stream is not None:
                await stream.close()
        if not produced and input_tokens is None and output_tokens is None:
            # Not a single event of an answer (an empty or garbage body): the provider's fault, so
            # the router may fall back, and nothing is charged.
            raise failures.malformed(self.name)
        if input_tokens is None:
            input_tokens = estimate_input_tokens(request.messages, request.system, request.upstream)
        if output_tokens is None:
            output_tokens = count_text_tokens("".join(produced), request.upstream)
        yield StreamEnd(model, input_tokens, output_tokens, finish)

    async def aclose(self) -> None:
        await self.client.close()
