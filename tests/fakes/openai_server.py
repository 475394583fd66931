"""A loopback OpenAI Chat Completions server speaking the real wire format (JSON and SSE)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from tests.fakes.script import BreakStream, Fail, FakeProvider, Reply, chunks_of, json_error, paced


class FakeOpenAI(FakeProvider):
    """`base_url` for the SDK is `fake.url + "/v1"`. `latency` (seconds) delays every answer, as a
    real provider takes time: calls are then in flight long enough for a test to act meanwhile."""

    latency = 0.0

    def routes(self) -> list[Any]:
        return [Route("/v1/chat/completions", self.chat, methods=["POST"]),
                Route("/v1/models", self.models, methods=["GET"])]

    async def models(self, request: Request) -> Response:
        """The free call `smarthub doctor --online` makes to check a key."""
        if not self.authorized(request):
            return self.error(Fail(401, "invalid_request_error", "invalid_api_key"))
        return JSONResponse({"object": "list", "data": [
            {"id": "gpt-fake", "object": "model", "created": 1700000000, "owned_by": "fake"}]})

    def error(self, fail: Fail) -> Response:
        body = {"error": {"message": "fake failure", "type": fail.error_type or "server_error",
                          "param": None, "code": fail.code}}
        return json_error(fail.status, body, fail.headers)

    async def chat(self, request: Request) -> Response:
        body, behaviour = await self.take(request)
        if self.latency:
            await asyncio.sleep(self.latency)
        if isinstance(behaviour, Response):
            return behaviour
        model = body.get("model", "gpt-fake")
        if body.get("stream"):
            return StreamingResponse(self._sse(behaviour, model), media_type="text/event-stream")
        assert isinstance(behaviour, Reply), "BreakStream needs a streaming request"
        payload: dict[str, Any] = {
            "id": "chatcmpl-fake", "object": "chat.completion", "created": 1700000000,
            "model": behaviour.model or model, "system_fingerprint": "fp_fake",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": behaviour.text, "refusal": None},
                         "logprobs": None, "finish_reason": behaviour.finish or "stop"}],
        }
        if behaviour.usage:
            payload["usage"] = {"prompt_tokens": behaviour.input_tokens, "completion_tokens": behaviour.output_tokens,
                                "total_tokens": behaviour.input_tokens + behaviour.output_tokens}
        return JSONResponse(payload)

    async def _sse(self, behaviour: Reply | BreakStream, model: str) -> AsyncIterator[str]:
        def chunk(choices: list[Any], usage: Any = None) -> str:
            data = {"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": 1700000000,
                    "model": getattr(behaviour, "model", None) or model, "choices": choices, "usage": usage}
            return f"data: {json.dumps(data)}\n\n"

        yield chunk([{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}])
        if isinstance(behaviour, BreakStream):
            for piece in chunks_of(behaviour.text, behaviour.after):
                yield chunk([{"index": 0, "delta": {"content": piece}, "finish_reason": None}])
            if behaviour.error_event:
                yield 'data: {"error": {"message": "overloaded", "type": "server_error"}}\n\n'
                return
            raise ConnectionResetError("fake stream broken")  # uvicorn drops the connection mid-body
        async for piece in paced(chunks_of(behaviour.text), behaviour.gate):
            yield chunk([{"index": 0, "delta": {"content": piece}, "finish_reason": None}])
        yield chunk([{"index": 0, "delta": {}, "finish_reason": behaviour.finish or "stop"}])
        if behaviour.usage:
            yield chunk([], {"prompt_tokens": behaviour.input_tokens, "completion_tokens": behaviour.output_tokens,
                             "total_tokens": behaviour.input_tokens + behaviour.output_tokens})
        yield "data: [DONE]\n\n"
