"""A loopback Stability AI v2beta Stable Image server speaking the real wire format.

`POST /v2beta/stable-image/generate/{core|ultra|sd3}` takes multipart/form-data only (as the real
API does, even without a file) and answers, by the request's `accept`:
- `image/*`: the PNG bytes, `content-type: image/png`, headers `finish-reason` and `seed`;
- `application/json`: `{"image": <base64>, "finish_reason", "seed"}`.
The PNG's size follows the requested aspect ratio. Errors are `{"id", "name", "errors": [...]}`.
Scripted behaviours: `Shot` (SUCCESS or CONTENT_FILTERED, optionally held at a gate: slow), `Fail`,
`Hang`, `Malformed` (a 200 whose bytes are not an image). Each request is recorded with its form
fields (`body`), `endpoint` and `multipart` flag.
"""

from __future__ import annotations

import base64
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.fakes.script import Fail, FakeProvider, Reply, Shot, json_error, png

ENDPOINTS = ("core", "ultra", "sd3")
PIXELS_PER_UNIT = 16  # a 16:9 answer is 256x144: small, with the ratio asked for


class FakeStability(FakeProvider):
    """`base_url` for the adapter is `fake.url`."""

    def routes(self) -> list[Any]:
        return [Route("/v2beta/stable-image/generate/{endpoint}", self.generate, methods=["POST"])]

    async def read_body(self, request: Request) -> dict[str, Any]:
        multipart = request.headers.get("content-type", "").startswith("multipart/form-data")
        fields: dict[str, Any] = {}
        if multipart:
            async with request.form() as form:
                fields = {k: v for k, v in form.items() if isinstance(v, str)}
        return {**fields, "endpoint": request.path_params["endpoint"], "multipart": multipart}

    def error(self, fail: Fail) -> Response:
        body = {"id": "a1b2c3d4", "name": fail.error_type or "internal_error",
                "errors": [fail.code or "fake failure: internal detail"]}
        return json_error(fail.status, body, fail.headers)

    async def generate(self, request: Request) -> Response:
        body, behaviour = await self.take(request)
        if isinstance(behaviour, Response):
            return behaviour
        if body["endpoint"] not in ENDPOINTS:
            return self.error(Fail(404, "not_found", "endpoint not found"))
        if not body["multipart"] or not body.get("prompt"):
            return self.error(Fail(400, "bad_request", "prompt: is required"))
        shot = Shot() if isinstance(behaviour, Reply) else behaviour
        assert isinstance(shot, Shot), f"{behaviour!r} is not a Stability answer"
        if shot.gate is not None:
            self.gates.append(shot.gate)
            await shot.gate.hold()
        across, _, down = body.get("aspect_ratio", "1:1").partition(":")
        image = png(int(across) * PIXELS_PER_UNIT, int(down) * PIXELS_PER_UNIT, len(self.requests))
        seed = body.get("seed") or "1234567"
        if request.headers.get("accept", "").startswith("application/json"):
            return JSONResponse({"image": base64.b64encode(image).decode(), "finish_reason": shot.finish,
                                 "seed": int(seed)})
        return Response(image, media_type="image/png", headers={"finish-reason": shot.finish, "seed": seed})
