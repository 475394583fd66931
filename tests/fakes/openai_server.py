"""A loopback OpenAI server speaking the real wire format: Chat Completions (JSON and SSE) and Images.

`POST /v1/images/generations` answers an `ImagesReply` (b64 PNGs with `usage`, or URLs served by the
fake itself at `/files/...`), or any scripted `Fail`, `Hang` (the request is recorded, then never
answered: a read timeout after acceptance) or `Malformed`. A `Reply` (the default) is a b64 answer.
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncIterator
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from tests.fakes.script import (
    BreakStream,
    Fail,
    FakeProvider,
    ImagesReply,
    Reply,
    chunks_of,
    json_error,
    paced,
    png,
)


class FakeOpenAI(FakeProvider):
    """`base_url` for the SDK is `fake.url + "/v1"`. `latency` (seconds) delays every answer, as a
    real provider takes time: calls are then in flight long enough for a test to act meanwhile."""

    latency = 0.0

    def routes(self) -> list[Any]:
        return [
            Route("/v1/chat/completions", self.chat, methods=["POST"]),
            Route("/v1/models", self.models, methods=["GET"]),
            Route("/v1/images/generations", self.images, methods=["POST"]),
            Route("/v1/moderations", self.moderations, methods=["POST"]),
            Route("/files/{name}", self.file, methods=["GET"]),
        ]

    moderation_answers: list[Any]
    """What the next moderation calls answer, in order (then "clean"): "clean", "down" (a 500),
    ("slow", seconds), or ("flagged", category, score)."""

    async def moderations(self, request: Request) -> Response:
        """OpenAI's moderation endpoint (omni-moderation-latest's shape), scripted per call."""
        body = await self.read_body(request)
        self.requests.append({"body": body, "headers": dict(request.headers), "path": request.url.path})
        if not self.authorized(request):
            return self.error(Fail(401, "invalid_request_error", "invalid_api_key"))
        answers = getattr(self, "moderation_answers", [])
        answer = answers.pop(0) if answers else "clean"
        if answer == "down":
            return self.error(Fail(500, "server_error"))
        if isinstance(answer, tuple) and answer[0] == "slow":
            await asyncio.sleep(answer[1])
        names = ["harassment", "harassment/threatening", "hate", "hate/threatening", "illicit", "illicit/violent",
                 "self-harm", "self-harm/instructions", "self-harm/intent", "sexual", "sexual/minors", "violence",
                 "violence/graphic"]
        flagged_as = answer[1] if isinstance(answer, tuple) and answer[0] == "flagged" else None
        score = answer[2] if flagged_as else 0.0
        result = {
            "flagged": flagged_as is not None,
            "categories": {n: n == flagged_as for n in names},
            "category_scores": {n: (score if n == flagged_as else 0.001) for n in names},
            "category_applied_input_types": {n: ["text"] for n in names},
        }
        return JSONResponse({"id": "modr-fake", "model": "omni-moderation-latest", "results": [result]})

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

    async def images(self, request: Request) -> Response:
        body, behaviour = await self.take(request)
        if isinstance(behaviour, Response):
            return behaviour
        if self.latency:
            await asyncio.sleep(self.latency)
        reply = ImagesReply() if isinstance(behaviour, Reply) else behaviour
        assert isinstance(reply, ImagesReply), f"{behaviour!r} is not an images answer"
        size = body.get("size") or "1024x1024"
        width, _, height = size.partition("x")
        count = reply.images if reply.images is not None else int(body.get("n") or 1)
        if reply.mode == "url":
            data = [{"url": f"{self.url}/files/{size}-{i}.png", "revised_prompt": body["prompt"]} for i in range(count)]
            return JSONResponse({"created": 1700000000, "data": data})
        images = [base64.b64encode(png(int(width), int(height), i)).decode() for i in range(count)]
        payload: dict[str, Any] = {
            "created": 1700000000, "data": [{"b64_json": b64} for b64 in images], "background": "opaque",
            "output_format": "png", "quality": "low", "size": size,
        }
        if reply.usage:
            payload["usage"] = {
                "input_tokens": reply.input_tokens,
                "input_tokens_details": {"text_tokens": reply.input_tokens, "image_tokens": 0},
                "output_tokens": reply.output_tokens, "total_tokens": reply.input_tokens + reply.output_tokens,
            }
        return JSONResponse(payload)

    async def file(self, request: Request) -> Response:
        """A URL answer's image, as DALL-E's expiring links serve them."""
        size, _, _ = request.path_params["name"].partition("-")
        width, _, height = size.partition("x")
        return Response(png(int(width), int(height)), media_type="image/png")
