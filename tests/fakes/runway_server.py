"""A loopback Runway API server speaking its wire format, for the official `runwayml` SDK.

`POST /v1/image_to_video` and `/v1/text_to_video` (camelCase bodies) answer
`{"id", "estimatedCost"}`; `GET /v1/tasks/{id}` answers the task by `status`, with `cost.credits`
once it ended; `DELETE /v1/tasks/{id}` answers 204: a queued task becomes CANCELLED at no cost, a
running one CANCELLED at its full cost (Runway refunds only before a task runs), an ended one is
deleted (404 after). Errors are `{"error": "<text>"}`. Requests need `Authorization: Bearer <key>`
(401 otherwise) and the `X-Runway-Version` header (400 without).
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.fakes.video_script import (
    Accept,
    AcceptThenCut,
    AcceptThenHang,
    FakeVideoProvider,
    Garbage,
    LiveTask,
    Refuse,
)

CREATED_AT = "2026-12-06T00:00:00.000Z"


def error(status: int, text: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": text}, status_code=status, headers=headers or {})


class FakeRunway(FakeVideoProvider):
    """`base_url` for the SDK is `fake.url` (its paths carry `/v1`)."""

    id_prefix = "17f20503-6c24-4f16-946b"

    def __init__(self, api_key: str = "key_test_runway") -> None:
        self.api_key = api_key
        super().__init__()

    def routes(self) -> list[Any]:
        return [Route("/v1/image_to_video", self.create, methods=["POST"]),
                Route("/v1/text_to_video", self.create, methods=["POST"]),
                Route("/v1/tasks/{task_id}", self.task, methods=["GET", "DELETE"])]

    def refused(self, request: Request) -> Response | None:
        if request.headers.get("authorization") != f"Bearer {self.api_key}":
            return error(401, "Invalid API key")
        if not request.headers.get("x-runway-version"):
            return error(400, "The X-Runway-Version header is required")
        return None

    async def create(self, request: Request) -> Response:
        entry = await self.record(request)
        if (refused := self.refused(request)) is not None:
            return refused
        body = entry["body"] if isinstance(entry["body"], dict) else {}
        behaviour = self.queue.popleft() if self.queue else Accept()
        if isinstance(behaviour, Refuse):
            return error(behaviour.status, "fake failure with key_test_runway inside", behaviour.headers)
        if isinstance(behaviour, Garbage):
            return Response("<html>bad gateway</html>", media_type="text/html")
        kind = request.url.path.rsplit("/", 1)[-1]
        valid = (isinstance(body.get("model"), str) and isinstance(body.get("promptText"), str)
                 and isinstance(body.get("ratio"), str) and isinstance(body.get("duration"), int)
                 and (kind == "text_to_video" or isinstance(body.get("promptImage"), str | list)))
        if not valid:
            return error(400, "Validation of body failed")
        live = self.new_task(kind, body, behaviour.task)
        if isinstance(behaviour, AcceptThenHang):
            return await self.hang()
        if isinstance(behaviour, AcceptThenCut):
            return self.cut(b'{"id": "')
        return JSONResponse({"id": live.id, "estimatedCost": {"credits": live.task.cost}})

    def view(self, live: LiveTask) -> dict[str, Any]:
        base = {"id": live.id, "createdAt": CREATED_AT}
        task = live.task
        if live.cancelled:
            return {**base, "status": "CANCELLED", "cost": {"credits": live.charged_on_cancel}}
        phase, progress = live.phase()
        if phase == "queued":
            return {**base, "status": "THROTTLED" if task.throttled else "PENDING",
                    "estimatedCost": {"credits": task.cost}}
        if phase == "running":
            return {**base, "status": "RUNNING", "estimatedCost": {"credits": task.cost}, "progress": progress}
        if task.fail is not None:
            return {**base, "status": "FAILED", "cost": {"credits": task.cost if task.charge_failure else 0},
                    "failure": "An internal error occurred (key_test_runway)", "failureCode": task.fail}
        return {**base, "status": "SUCCEEDED", "cost": {"credits": task.cost},
                "output": [f"{u}?_jwt=fake.signed.token" for u in self.output_urls(live)]}

    async def task(self, request: Request) -> Response:
        await self.record(request)
        if (refused := self.refused(request)) is not None:
            return refused
        live = self.tasks.get(request.path_params["task_id"])
        if live is None:
            return error(404, "Task not found")
        if self.poll_errors:
            failure = self.poll_errors.popleft()
            return error(failure.status, "fake failure", failure.headers)
        if request.method == "DELETE":
            return self.delete(live)
        if not live.cancelled:
            live.polls += 1
        return JSONResponse(self.view(live))

    def delete(self, live: LiveTask) -> Response:
        phase, _ = live.phase()
        if live.cancelled or phase == "done":
            del self.tasks[live.id]  # deleting an ended task removes it
            return Response(status_code=204)
        started = phase == "running" or live.task.starts_on_delete
        live.cancelled = True
        live.charged_on_cancel = live.task.cost if started else 0
        return Response(status_code=204)
