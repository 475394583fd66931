"""The demo provider: deterministic, offline, and billed like a real one.

It answers every chat with a fixed-format echo of the last user message, so a fresh install can
run every tool end to end with no keys (public model `demo-chat`). Usage is counted with the same
token helper as the pricing estimate, so holds, captures and usage rows look like a real call.
`max_tokens` is honoured: a long answer is cut and reported with finish reason `length`.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

from smarthub_mcp.config import ProviderConfig
from smarthub_mcp.providers.base import ChatRequest, ChatResult, StreamEnd, StreamEvent, TextDelta
from smarthub_mcp.providers.tokens import count_text_tokens, estimate_input_tokens


class DemoProvider:
    def __init__(self, name: str = "demo", config: ProviderConfig | None = None) -> None:
        self.name = name
        self.config = config

    def _answer(self, request: ChatRequest) -> tuple[list[str], str]:
        last = next((m.content for m in reversed(request.messages) if m.role == "user"), "")
        text = f"Demo answer ({len(request.messages)} message(s)). You said: {last.strip()}"
        pieces = [word if index == 0 else " " + word for index, word in enumerate(text.split(" "))]
        if count_text_tokens(text, request.upstream) <= request.max_tokens:  # the usual case: one count
            return pieces, "stop"
        words: list[str] = []
        used = 0
        for piece in pieces:
            cost = count_text_tokens(piece, request.upstream)
            if used + cost > request.max_tokens:
                return words, "length"
            words.append(piece)
            used += cost
        return words, "stop"

    def _usage(self, request: ChatRequest, text: str) -> tuple[int, int]:
        return (
            estimate_input_tokens(request.messages, request.system, request.upstream),
            count_text_tokens(text, request.upstream),
        )

    async def complete(self, request: ChatRequest) -> ChatResult:
        started = time.monotonic()
        words, finish = self._answer(request)
        text = "".join(words)
        input_tokens, output_tokens = self._usage(request, text)
        return ChatResult(
            text=text,
            upstream_model=request.upstream,
            provider=self.name,
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            finish_reason=finish,  # type: ignore[arg-type]
            latency_ms=int((time.monotonic() - started) * 1000),
        )

    async def stream(self, request: ChatRequest) -> AsyncIterator[StreamEvent]:
        words, finish = self._answer(request)
        for word in words:
            yield TextDelta(word)
        input_tokens, output_tokens = self._usage(request, "".join(words))
        yield StreamEnd(request.upstream, input_tokens, output_tokens, finish)  # type: ignore[arg-type]

    async def aclose(self) -> None:
        return None
