"""A loopback kie.ai server speaking its unified jobs API (api.kie.ai).

    POST /api/v1/jobs/createTask        {"code": 200, "msg": "success", "data": {"taskId"}}
    GET  /api/v1/jobs/recordInfo?taskId= {"code": 200, "data": {"state", "resultJson": "<json string>", ...}}
    GET  /files/{name}                  the output PNGs

Errors come as kie sends them: HTTP 200 with the envelope's `code` (401, 402, 422, 500, ...);
`Refuse(status)` sends that code in a 200, `HttpRefuse(status)` a real HTTP error status.
Each createTask takes the next scripted behaviour (a `KieTask` by default). Auth is Bearer.
"""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.fakes.media_files import AcceptThenHang, Garbled, MediaFake, Refuse

RATIO_PIXELS = {"1:1": (64, 64), "16:9": (96, 54), "9:16": (54, 96), "4:3": (80, 60), "3:4": (60, 80)}


@dataclass
class KieTask:
    """How one task goes: `waiting` polls answer waiting, the next `generating` generating, then
    success with `images` URLs (default: the input's num_images or 1), or fail with `fail_code`."""

    waiting: int = 0
    generating: int = 0
    images: int | None = None
    fail_code: str | None = None
    fail_msg: str = "secret upstream detail"
    record_code: int = 200  # recordInfo's envelope code while the task is done (422, 501: verdicts)


@dataclass
class HttpRefuse:
    status: int


class FakeKie(MediaFake):
    """`base_url` for the adapter is `fake.url`."""

    _ids = itertools.count(1)

    def __init__(self, api_key: str = "test-key") -> None:
        super().__init__(api_key)
        self.tasks: dict[str, dict[str, Any]] = {}

    def routes(self) -> list[Any]:
        return [
            Route("/api/v1/jobs/createTask", self.create, methods=["POST"]),
            Route("/api/v1/jobs/recordInfo", self.record_info, methods=["GET"]),
        ]

    def authorized(self, request: Request) -> bool:
        return request.headers.get("authorization") == f"Bearer {self.api_key}"

    @staticmethod
    def envelope(code: int, data: Any = None, msg: str = "success") -> JSONResponse:
        return JSONResponse({"code": code, "msg": msg, "data": data})

    async def create(self, request: Request) -> Response:
        body = await self.record(request)
        if not self.authorized(request):
            return self.envelope(401, msg="You do not have access permissions")
        behaviour = self.queue.popleft() if self.queue else KieTask()
        if isinstance(behaviour, Refuse):
            return self.envelope(behaviour.status, msg="secret upstream detail")
        if isinstance(behaviour, HttpRefuse):
            return JSONResponse({"code": behaviour.status, "msg": "secret upstream detail"},
                                status_code=behaviour.status)
        task_id = f"task_{next(self._ids):06d}"
        self.tasks[task_id] = {"task": behaviour if isinstance(behaviour, KieTask) else KieTask(), "body": body,
                               "polls": 0}
        if isinstance(behaviour, AcceptThenHang):
            return await self.hang()
        if isinstance(behaviour, Garbled):
            return self.envelope(200, {"id": task_id})
        return self.envelope(200, {"taskId": task_id})

    async def record_info(self, request: Request) -> Response:
        await self.record(request)
        if not self.authorized(request):
            return self.envelope(401, msg="You do not have access permissions")
        task_id = request.query_params.get("taskId", "")
        entry = self.tasks.get(task_id)
        if entry is None:
            return self.envelope(404, msg="task not found")
        script: KieTask = entry["task"]
        polls = entry["polls"]
        entry["polls"] += 1
        body = entry["body"]
        data: dict[str, Any] = {"taskId": task_id, "model": body["model"], "param": json.dumps(body),
                                "resultJson": "", "failCode": "", "failMsg": "", "costTime": 0,
                                "completeTime": None, "createTime": 1765000000000, "updateTime": 1765000000000}
        if polls < script.waiting:
            return self.envelope(200, {**data, "state": "waiting"})
        if polls < script.waiting + script.generating:
            return self.envelope(200, {**data, "state": "generating"})
        if script.record_code != 200:
            return self.envelope(script.record_code, msg="secret upstream detail")
        if script.fail_code:
            return self.envelope(200, {**data, "state": "fail", "failCode": script.fail_code,
                                       "failMsg": script.fail_msg})
        task_input = body["input"]
        ratio = task_input.get("aspect_ratio") or task_input.get("image_size") or "1:1"
        width, height = RATIO_PIXELS.get(ratio, (64, 64))
        count = script.images if script.images is not None else task_input.get("num_images", 1)
        urls = [self.add_file(f"{task_id}-{i}.png", width, height, i) for i in range(count)]
        return self.envelope(200, {**data, "state": "success", "resultJson": json.dumps({"resultUrls": urls}),
                                   "costTime": 15000, "completeTime": 1765000015000})
