"""A loopback fal.ai queue server speaking the real wire format (queue.fal.run).

    POST /{app_id}                       submit -> request_id + status/response/cancel URLs
    GET  /{owner}/{app}/requests/{id}/status   IN_QUEUE (queue_position) | IN_PROGRESS (logs) | COMPLETED
    GET  /{owner}/{app}/requests/{id}          the result: images[] + has_nsfw_concepts
    PUT  /{owner}/{app}/requests/{id}/cancel   202 CANCELLATION_REQUESTED | 400 ALREADY_COMPLETED
    GET  /files/{name}                         the output PNGs

Each submit takes the next scripted behaviour (a `FalJob` by default). Auth is `Key <key>`.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

import httpx2
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.fakes.media_files import AcceptThenHang, Garbled, MediaFake, Refuse
from tests.fakes.video_script import MP4


@dataclass
class FalJob:
    """How one request goes: `in_queue` status polls answer IN_QUEUE, the next `in_progress`
    IN_PROGRESS, then COMPLETED. `images` defaults to the request's num_images; `flagged` are the
    indexes fal's safety checker marks. `error` completes the request with that error (its result
    then answers `error_status`); `result_status` makes the result fetch itself fail."""

    in_queue: int = 0
    in_progress: int = 0
    images: int | None = None
    flagged: tuple[int, ...] = ()
    error: str | None = None
    error_type: str = "runner_error"
    error_status: int = 500
    result_status: int | None = None
    url_host: str | None = None  # the submit's answer points the follow-up URLs at this host
    webhook: bool = False  # finish at once and post the result to the submit's `fal_webhook`
    video: bool = False  # a video model: the result is `{"video": {url, content_type, file_size}}`


class FakeFal(MediaFake):
    """`base_url` for the adapter is `fake.url`."""

    _ids = itertools.count(1)

    def __init__(self, api_key: str = "test-key") -> None:
        super().__init__(api_key)
        self.jobs: dict[str, dict[str, Any]] = {}
        self.webhook_replies: list[int] = []

    def routes(self) -> list[Any]:
        return [
            Route("/{owner}/{app}/requests/{rid}/status", self.status, methods=["GET"]),
            Route("/{owner}/{app}/requests/{rid}/cancel", self.cancel, methods=["PUT"]),
            Route("/{owner}/{app}/requests/{rid}", self.result, methods=["GET"]),
            Route("/{app_id:path}", self.submit, methods=["POST"]),
        ]

    def authorized(self, request: Request) -> bool:
        return request.headers.get("authorization") == f"Key {self.api_key}"

    async def submit(self, request: Request) -> Response:
        body = await self.record(request)
        if not self.authorized(request):
            return JSONResponse({"detail": "Invalid key"}, status_code=401)
        behaviour = self.queue.popleft() if self.queue else FalJob()
        if isinstance(behaviour, Refuse):
            return JSONResponse({"detail": [{"loc": ["body", "prompt"], "msg": "secret upstream detail",
                                             "type": "value_error"}]}, status_code=behaviour.status)
        app_id = request.path_params["app_id"]
        owner, app = app_id.split("/")[:2]
        rid = f"req-{next(self._ids):06d}"
        self.jobs[rid] = {"job": behaviour if isinstance(behaviour, FalJob) else FalJob(), "body": body,
                          "polls": 0, "cancelled": False, "app": app_id}
        if isinstance(behaviour, AcceptThenHang):
            return await self.hang()
        if isinstance(behaviour, Garbled):
            return Response("<html>upstream says hi</html>", media_type="text/html")
        host = behaviour.url_host if isinstance(behaviour, FalJob) and behaviour.url_host else self.url
        root = f"{host}/{owner}/{app}/requests/{rid}"
        hook = request.query_params.get("fal_webhook")
        post = BackgroundTask(self.post_webhook, hook, rid) if isinstance(behaviour, FalJob) and behaviour.webhook \
            and hook else None  # sent once the submit's answer is out
        return JSONResponse({"request_id": rid, "response_url": root, "status_url": f"{root}/status",
                             "cancel_url": f"{root}/cancel", "queue_position": 0}, background=post)

    def phase(self, job: dict[str, Any]) -> str:
        """What the next status poll answers."""
        script: FalJob = job["job"]
        if job["cancelled"] or job.get("done") or job["polls"] >= script.in_queue + script.in_progress:
            return "COMPLETED"
        return "IN_QUEUE" if job["polls"] < script.in_queue else "IN_PROGRESS"

    async def status(self, request: Request) -> Response:
        await self.record(request)
        if not self.authorized(request):
            return JSONResponse({"detail": "Invalid key"}, status_code=401)
        job = self.jobs.get(request.path_params["rid"])
        if job is None:
            return JSONResponse({"detail": "Request not found"}, status_code=404)
        phase, script = self.phase(job), job["job"]
        job["polls"] += 1
        if phase == "IN_QUEUE":
            return JSONResponse({"status": "IN_QUEUE", "queue_position": script.in_queue - job["polls"]},
                                status_code=202)
        if phase == "IN_PROGRESS":
            return JSONResponse({"status": "IN_PROGRESS", "logs": [
                {"message": "step", "level": "INFO", "timestamp": "2026-12-06T00:00:00"}]}, status_code=202)
        answer: dict[str, Any] = {"status": "COMPLETED", "logs": None, "metrics": {"inference_time": 1.2}}
        if job["cancelled"]:
            answer.update(error="Request was cancelled", error_type="request_cancelled")
        elif script.error:
            answer.update(error=script.error, error_type=script.error_type)
        return JSONResponse(answer)

    async def result(self, request: Request) -> Response:
        await self.record(request)
        if not self.authorized(request):
            return JSONResponse({"detail": "Invalid key"}, status_code=401)
        rid = request.path_params["rid"]
        job = self.jobs.get(rid)
        if job is None:
            return JSONResponse({"detail": "Request not found"}, status_code=404)
        script: FalJob = job["job"]
        if self.phase(job) != "COMPLETED":
            return JSONResponse({"detail": "Request is still in progress"}, status_code=400)
        if job["cancelled"]:
            return JSONResponse({"detail": "Request was cancelled"}, status_code=400)
        if script.error:
            return JSONResponse({"detail": script.error}, status_code=script.error_status)
        if script.result_status:
            return JSONResponse({"detail": "secret upstream detail"}, status_code=script.result_status)
        return JSONResponse(self.output(rid, job))

    async def post_webhook(self, url: str, rid: str) -> None:
        """What fal does when a request with a webhook finishes: POST the result (once, here)."""
        job = self.jobs[rid]
        job["done"] = True
        body = {"request_id": rid, "gateway_request_id": rid, "status": "OK", "payload": self.output(rid, job)}
        async with httpx2.AsyncClient(timeout=30) as http:
            self.webhook_replies.append((await http.post(url, json=body)).status_code)

    def output(self, rid: str, job: dict[str, Any]) -> dict[str, Any]:
        script: FalJob = job["job"]
        if script.video:
            name = f"{rid}.mp4"
            self.files[name] = MP4
            return {"video": {"url": f"{self.url}/files/{name}", "content_type": "video/mp4",
                              "file_name": name, "file_size": len(MP4)}}
        size = job["body"]["image_size"]
        count = script.images if script.images is not None else job["body"].get("num_images", 1)
        images = [{"url": self.add_file(f"{rid}-{i}.png", size["width"], size["height"], i),
                   "width": size["width"], "height": size["height"], "content_type": "image/png"}
                  for i in range(count)]
        return {"images": images, "timings": {"inference": 1.23}, "seed": job["body"].get("seed", 42),
                "has_nsfw_concepts": [i in script.flagged for i in range(count)], "prompt": job["body"]["prompt"]}

    async def cancel(self, request: Request) -> Response:
        await self.record(request)
        if not self.authorized(request):
            return JSONResponse({"detail": "Invalid key"}, status_code=401)
        job = self.jobs.get(request.path_params["rid"])
        if job is None:
            return JSONResponse({"status": "NOT_FOUND"}, status_code=404)
        phase = self.phase(job)
        if phase == "COMPLETED":
            return JSONResponse({"status": "ALREADY_COMPLETED"}, status_code=400)
        if phase == "IN_QUEUE":
            job["cancelled"] = True  # removed from the queue; a running one is only signalled
        return JSONResponse({"status": "CANCELLATION_REQUESTED"}, status_code=202)
