"""A loopback kie.ai server speaking its unified jobs API (api.kie.ai).

    POST /api/v1/jobs/createTask        {"code": 200, "msg": "success", "data": {"taskId"}}
    GET  /api/v1/jobs/recordInfo?taskId= {"code": 200, "data": {"state", "resultJson": "<json string>", ...}}
    GET  /files/{name}                  the output PNGs
    POST <callBackUrl>                  {"code": 200, "msg", "data": {"taskId", "state"}} when a task ends

Errors come as kie sends them: HTTP 200 with the envelope's `code` (401, 402, 422, 500, ...);
`Refuse(status)` sends that code in a 200, `HttpRefuse(status)` a real HTTP error status.
Each createTask takes the next scripted behaviour (a `KieTask` by default). Auth is Bearer.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from dataclasses import dataclass
from typing import Any

import httpx2
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.fakes.media_files import AcceptThenHang, Garbled, MediaFake, Refuse
from tests.fakes.video_script import MP4

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
    video: bool = False  # a video model: one MP4 in resultUrls
    callback: float | None = None  # done this many seconds after the create, then posted to callBackUrl
    # (0: before the create is even answered)


@dataclass
class HttpRefuse:
    status: int


class FakeKie(MediaFake):
    """`base_url` for the adapter is `fake.url`."""

    _ids = itertools.count(1)

    def __init__(self, api_key: str = "test-key") -> None:
        super().__init__(api_key)
        self.tasks: dict[str, dict[str, Any]] = {}
        self.callback_replies: list[int] = []

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
        hook = body.get("callBackUrl") if isinstance(body, dict) else None
        after = behaviour.callback if isinstance(behaviour, KieTask) else None
        if hook and after == 0:  # done at once: the post goes out before the create's answer
            await self.post_callback(hook, task_id, 0)
            after = None
        post = BackgroundTask(self.post_callback, hook, task_id, after) if hook and after is not None else None
        return JSONResponse({"code": 200, "msg": "success", "data": {"taskId": task_id}}, background=post)

    async def post_callback(self, url: str, task_id: str, after: float) -> None:
        """What kie does when a task with a callBackUrl ends: POST its id and state (once, here)."""
        await asyncio.sleep(after)
        self.tasks[task_id]["called_back"] = True
        body = {"code": 200, "msg": "Playground task completed successfully.",
                "data": {"taskId": task_id, "state": "success"}}
        async with httpx2.AsyncClient(timeout=30) as http:
            self.callback_replies.append((await http.post(url, json=body)).status_code)

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
        if polls < script.waiting or (script.callback is not None and not entry.get("called_back")):
            return self.envelope(200, {**data, "state": "waiting"})
        if polls < script.waiting + script.generating:
            return self.envelope(200, {**data, "state": "generating"})
        if script.record_code != 200:
            return self.envelope(script.record_code, msg="secret upstream detail")
        if script.fail_code:
            return self.envelope(200, {**data, "state": "fail", "failCode": script.fail_code,
                                       "failMsg": script.fail_msg})
        task_input = body["input"]
        if script.video:
            self.files[f"{task_id}.mp4"] = MP4
            urls = [f"{self.url}/files/{task_id}.mp4"]
            return self.envelope(200, {**data, "state": "success", "resultJson": json.dumps({"resultUrls": urls}),
                                       "costTime": 60000, "completeTime": 1765000060000})
        ratio = task_input.get("aspect_ratio") or task_input.get("image_size") or "1:1"
        width, height = RATIO_PIXELS.get(ratio, (64, 64))
        count = script.images if script.images is not None else task_input.get("num_images", 1)
        urls = [self.add_file(f"{task_id}-{i}.png", width, height, i) for i in range(count)]
        return self.envelope(200, {**data, "state": "success", "resultJson": json.dumps({"resultUrls": urls}),
                                   "costTime": 15000, "completeTime": 1765000015000})
