"""OpenAI chat adapter, on the official `openai` SDK; also any OpenAI-compatible endpoint.

An `openai` provider serves images too: `submit`/`poll`/`cancel` are handed to its `OpenAIImages`
(openai_images.py), made on the first image request, so one `[providers.openai]` with one key serves
chat and image models alike.

`OpenAIProvider(name, config, api_key)` creates one `AsyncOpenAI` client with the configured
`base_url`, key, `timeout_seconds` and `max_retries`, and reuses it until `aclose()`. Point
`base_url` at Ollama (`http://host:11434/v1`), vLLM, LM Studio, OpenRouter, Groq... to use them.

The output cap is sent as `max_completion_tokens` to api.openai.com (its reasoning models refuse
`max_tokens`) and as `max_tokens` to any other base URL, which is what compatible servers read.
Streams ask for `stream_options.include_usage`; a compatible server that sends no usage gets it
estimated with the token helper (upper bounds), so the call is still billed.
"""

from __future__ import annotations

import functools
import time
from collections.abc import AsyncIterator
from typing import Any

import openai

from smarthub_mcp.config import ProviderConfig
from smarthub_mcp.errors import ProviderError
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
from smarthub_mcp.providers.media import ImageRequest, Outcome, Pending
from smarthub_mcp.providers.openai_images import OpenAIImages
from smarthub_mcp.providers.tokens import count_text_tokens, estimate_input_tokens
from smarthub_mcp.tls import client_tls

CHAT_PATH = "/chat/completions"
"""Posted through the client's own `post` (the SDK's documented way to send a body as it is):
`chat.completions.create` would first run the SDK's parameter transform over every field, about
1 ms of CPU per call on our benchmark machine, for a body that is plain JSON already. Auth,
retries, timeouts, error types, JSON and SSE parsing (error events included) are the SDK's either
way.

Answers come back as the parsed JSON (`cast_to=object`, the SDK's pass-through) rather than as
`ChatCompletion` / `ChatCompletionChunk` objects. The SDK builds those with `construct`, which
validates nothing, so they were no safer than the dicts; building them cost about 0.2 ms of CPU
per answer and, per streamed chunk, enough to make it most of the adapter's own work on a stream
(measured in-process against the fake, see docs/DESIGN-NOTES.md). A body of the wrong shape fails
in the reading below and is reported as malformed, as before."""

FINISH_REASONS: dict[str, FinishReason] = {
    "stop": "stop",
    "length": "length",
    "content_filter": "content_filter",
    "tool_calls": "tool_calls",
    "function_call": "tool_calls",
}


def finish_reason(raw: str | None) -> FinishReason:
    return FINISH_REASONS.get(raw or "stop", "other")


def _tokens(usage: Any, request: ChatRequest, text: str) -> tuple[int, int]:
    """The reported (input, output) tokens, or upper-bound estimates when the server sent no usage."""
    if usage is None:
        return (estimate_input_tokens(request.messages, request.system, request.upstream),
                count_text_tokens(text, request.upstream))
    return token_count(usage["prompt_tokens"]), token_count(usage["completion_tokens"])


class OpenAIProvider:
    def __init__(self, name: str, config: ProviderConfig, api_key: str) -> None:
        self.name = name
        self.config = config
        self._api_key = api_key
        self._official = config.base_url is None or "api.openai.com" in config.base_url
        self.client = openai.AsyncOpenAI(
            api_key=api_key,
            base_url=config.base_url,
            timeout=config.timeout_seconds,
            max_retries=config.max_retries,
            # The SDK's documented aiohttp transport (`openai[aiohttp]`): about 1 ms less CPU per
            # upstream call than its default httpx2 one, measured in bench/mcp_overhead.py.
            http_client=openai.DefaultAioHttpClient(timeout=config.timeout_seconds, verify=client_tls()),
        )

    def _params(self, request: ChatRequest) -> dict[str, Any]:
        messages: list[dict[str, str]] = []
        if request.system:
            messages.append({"role": "system", "content": request.system})
        messages.extend({"role": m.role, "content": m.content} for m in request.messages)
        params: dict[str, Any] = {"model": request.upstream, "messages": messages}
        params["max_completion_tokens" if self._official else "max_tokens"] = request.max_tokens
        if request.temperature is not None:
            params["temperature"] = request.temperature
        return params

    async def complete(self, request: ChatRequest) -> ChatResult:
        started = time.monotonic()
        try:
            response: Any = await self.client.post(CHAT_PATH, body=self._params(request), cast_to=object)
            choice = response["choices"][0]
            text = answer_text(choice["message"].get("content"))
            input_tokens, output_tokens = _tokens(response.get("usage"), request, text)
            return ChatResult(
                text=text,
                upstream_model=response.get("model") or request.upstream,
                provider=self.name,
                input_tokens=input_tokens,
                output_tokens=output_tokens,
                finish_reason=finish_reason(choice.get("finish_reason")),
                latency_ms=int((time.monotonic() - started) * 1000),
            )
        except Exception as exc:
            raise failures.from_sdk(exc, openai, provider=self.name) from None

    async def stream(self, request: ChatRequest) -> AsyncIterator[StreamEvent]:
        produced: list[str] = []
        model = request.upstream
        finish: FinishReason | None = None
        usage = None
        stream: Any = None
        try:
            stream = await self.client.post(
                CHAT_PATH,
                body={**self._params(request), "stream": True, "stream_options": {"include_usage": True}},
                cast_to=object,
                stream=True,
                stream_cls=openai.AsyncStream[object],
            )
            async for chunk in stream:
                model = chunk.get("model") or model
                if chunk.get("usage") is not None:
                    usage = chunk["usage"]
                for choice in chunk.get("choices") or ():
                    content = answer_text((choice.get("delta") or {}).get("content"))
                    if content:
                        produced.append(content)
                        yield TextDelta(content)
                    if choice.get("finish_reason"):
                        finish = finish_reason(choice["finish_reason"])
        except Exception as exc:
            error = failures.from_sdk(exc, openai, provider=self.name)
            raise self._interrupted(error, request, produced) from None
        finally:
            if stream is not None:
                await stream.close()
        if not produced and finish is None and usage is None:
            # A stream that ended without a chunk of an answer (an empty or garbage body) is not an
            # empty answer: it is the provider's fault, so the router may fall back, and nothing
            # is charged.
            raise failures.malformed(self.name)
        text = "".join(produced)
        input_tokens, output_tokens = _tokens(usage, request, text)
        yield StreamEnd(model, input_tokens, output_tokens, finish or "stop")

    def _interrupted(self, error: ProviderError, request: ChatRequest, produced: list[str]) -> ProviderError:
        if not produced:
            return error
        usage = Usage(
            estimate_input_tokens(request.messages, request.system, request.upstream),
            count_text_tokens("".join(produced), request.upstream),
        )
        return StreamInterrupted(error, partial_usage=usage)

    @functools.cached_property
    def images(self) -> OpenAIImages:
        return OpenAIImages(self.name, self.config, self._api_key)

    async def submit(self, request: ImageRequest) -> Outcome:
        return await self.images.submit(request)

    async def poll(self, pending: Pending, request: ImageRequest) -> Outcome:
        return await self.images.poll(pending, request)

    async def cancel(self, pending: Pending) -> bool:
        return await self.images.cancel(pending)

    async def aclose(self) -> None:
        await self.client.close()
        if "images" in self.__dict__:  # made only if an image was asked for
            await self.images.aclose()
