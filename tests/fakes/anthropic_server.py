"""A loopback Anthropic Messages server speaking the real wire format (JSON and named SSE events).

It accepts either `Authorization: Bearer <key>` (what SDK 2.14 sends) or `x-api-key: <key>`.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from tests.fakes.script import BreakStream, Fail, FakeProvider, Reply, chunks_of, json_error, paced

ERROR_TYPES = {400: "invalid_request_error", 401: "authentication_error", 403: "permission_error",
               404: "not_found_error", 429: "rate_limit_error", 500: "api_error", 529: "overloaded_error"}


def event(name: str, data: dict[str, Any]) -> str:
    return f"event: {name}\ndata: {json.dumps(data)}\n\n"


class FakeAnthropic(FakeProvider):
    """`base_url` for the SDK is `fake.url` (the SDK adds `/v1`)."""

    def routes(self) -> list[Any]:
        return [Route("/v1/messages", self.messages, methods=["POST"])]

    def error(self, fail: Fail) -> Response:
        kind = fail.error_type or ERROR_TYPES.get(fail.status, "api_error")
        body = {"type": "error", "error": {"type": kind, "message": "fake failure"}}
        return json_error(fail.status, body, {"request-id": "req_fake", **fail.headers})

    async def messages(self, request: Request) -> Response:
        body, behaviour = await self.take(request)
        if isinstance(behaviour, Response):
            return behaviour
        model = body.get("model", "claude-fake")
        if body.get("stream"):
            return StreamingResponse(self._sse(behaviour, model), media_type="text/event-stream")
        assert isinstance(behaviour, Reply), "BreakStream needs a streaming request"
        return JSONResponse({
            "id": "msg_fake", "type": "message", "role": "assistant", "model": behaviour.model or model,
            "content": [{"type": "text", "text": behaviour.text}],
            "stop_reason": behaviour.finish or "end_turn", "stop_sequence": None,
            "usage": {"input_tokens": behaviour.input_tokens, "output_tokens": behaviour.output_tokens,
                      "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0},
        })

    async def _sse(self, behaviour: Reply | BreakStream, model: str) -> AsyncIterator[str]:
        input_tokens = behaviour.input_tokens if isinstance(behaviour, Reply) else 9
        yield event("message_start", {"type": "message_start", "message": {
            "id": "msg_fake", "type": "message", "role": "assistant",
            "model": getattr(behaviour, "model", None) or model,
            "content": [], "stop_reason": None, "stop_sequence": None,
            "usage": {"input_tokens": input_tokens, "output_tokens": 1}}})
        yield event("content_block_start", {"type": "content_block_start", "index": 0,
                                            "content_block": {"type": "text", "text": ""}})
        yield event("ping", {"type": "ping"})
        pieces = chunks_of(behaviour.text, behaviour.after if isinstance(behaviour, BreakStream) else None)
        async for piece in paced(pieces, getattr(behaviour, "gate", None)):
            yield event("content_block_delta", {"type": "content_block_delta", "index": 0,
                                                "delta": {"type": "text_delta", "text": piece}})
        if isinstance(behaviour, BreakStream):
            if behaviour.error_event:
                yield event("error", {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}})
                return
            raise ConnectionResetError("fake stream broken")
        yield event("content_block_stop", {"type": "content_block_stop", "index": 0})
        yield event("message_delta", {"type": "message_delta",
                                      "delta": {"stop_reason": behaviour.finish or "end_turn", "stop_sequence": None},
                                      "usage": {"output_tokens": behaviour.output_tokens}})
        yield event("message_stop", {"type": "message_stop"})
