"""A loopback Kling server speaking the official API's wire format (envelope, JWT auth, tasks).

Every request must carry `Authorization: Bearer <JWT>` signed HS256 with the fake's secret key and
`iss` = its access key; a bad signature, another issuer or a token outside `nbf`..`exp` gets 401
with Kling's auth codes (1004 expired, 1002 invalid). `fake.tokens` keeps every decoded claim set.
"""

from __future__ import annotations

from typing import Any

import jwt
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

KINDS = ("text2video", "image2video")
MESSAGES = {1000: "Authentication failed", 1002: "Authorization is invalid", 1004: "Authorization is expired",
            1102: "Resource pack exhausted", 1201: "Invalid request parameters", 1203: "Resource not found",
            1301: "Content security policy triggered", 1303: "parallel task over resource pack limit",
            5000: "Server internal error"}


def envelope(code: int, data: Any = None, message: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"code": code, "message": message or MESSAGES.get(code, "SUCCEED" if code == 0 else "error"),
                            "request_id": "req-fake"}
    if data is not None:
        body["data"] = data
    return body


class FakeKling(FakeVideoProvider):
    """`base_url` for the adapter is `fake.url`."""

    id_prefix = "8672837417"

    def __init__(self, access_key: str = "ak-test", secret_key: str = "sk-test-secret-0123456789abcdef-kling") -> None:
        self.access_key = access_key
        self.secret_key = secret_key
        self.tokens: list[dict[str, Any]] = []
        super().__init__()

    def routes(self) -> list[Any]:
        return [Route("/v1/videos/{kind}", self.create, methods=["POST"]),
                Route("/v1/videos/{kind}/{task_id}", self.query, methods=["GET"])]

    def refuse(self, refuse: Refuse) -> Response:
        code = refuse.code if refuse.code is not None else 5000
        return JSONResponse(envelope(code), status_code=refuse.status, headers=refuse.headers)

    def authorized(self, request: Request) -> Response | None:
        scheme, _, raw = request.headers.get("authorization", "").partition(" ")
        if scheme != "Bearer" or not raw:
            return self.refuse(Refuse(401, 1001))
        try:
            claims = jwt.decode(raw, self.secret_key, algorithms=["HS256"], options={"require": ["iss", "exp", "nbf"]})
        except jwt.ExpiredSignatureError:
            return self.refuse(Refuse(401, 1004))
        except jwt.InvalidTokenError:
            return self.refuse(Refuse(401, 1002))
        if claims["iss"] != self.access_key:
            return self.refuse(Refuse(401, 1002))
        self.tokens.append(claims)
        return None

    async def create(self, request: Request) -> Response:
        entry = await self.record(request)
        kind = request.path_params["kind"]
        if kind not in KINDS:
            return JSONResponse(envelope(1203), status_code=404)
        if (denied := self.authorized(request)) is not None:
            return denied
        body = entry["body"] if isinstance(entry["body"], dict) else {}
        behaviour = self.queue.popleft() if self.queue else Accept()
        if isinstance(behaviour, Refuse):
            return self.refuse(behaviour)
        if isinstance(behaviour, Garbage):
            return Response("<html>bad gateway</html>", media_type="text/html")
        valid = (isinstance(body.get("model_name"), str) and isinstance(body.get("prompt"), str)
                 and body.get("duration") in ("5", "10") and body.get("mode") in ("std", "pro")
                 and (kind == "text2video" or isinstance(body.get("image"), str)))
        if not valid:
            return JSONResponse(envelope(1201), status_code=400)
        live = self.new_task(kind, body, behaviour.task)
        if isinstance(behaviour, AcceptThenHang):
            return await self.hang()
        if isinstance(behaviour, AcceptThenCut):
            return self.cut(b'{"code": 0, "data": {"task_id": "')
        return JSONResponse(envelope(0, self.task_data(live, created=True)))

    def task_data(self, live: LiveTask, *, created: bool = False) -> dict[str, Any]:
        phase, _ = ("queued", 0.0) if created else live.phase()
        status = {"queued": "submitted", "running": "processing"}.get(phase)
        if status is None:
            status = "failed" if live.task.fail is not None else "succeed"
        data: dict[str, Any] = {"task_id": live.id, "task_status": status,
                                "task_info": {"external_task_id": live.body.get("external_task_id")},
                                "created_at": 1774805076166, "updated_at": 1774805076166 + live.polls}
        if status == "failed":
            data["task_status_msg"] = "Failure to pass the risk control system: sk-test-secret leaked?"
        if status == "succeed":
            data["task_status_msg"] = ""
            data["final_unit_deduction"] = "1"
            data["task_result"] = {"videos": [{"id": f"v{i}", "url": url, "duration": live.task.duration}
                                              for i, url in enumerate(self.output_urls(live))]}
        return data

    async def query(self, request: Request) -> Response:
        await self.record(request)
        if (denied := self.authorized(request)) is not None:
            return denied
        live = self.tasks.get(request.path_params["task_id"])
        if live is None or live.kind != request.path_params["kind"]:
            return JSONResponse(envelope(1203), status_code=404)
        if self.poll_errors:
            return self.refuse(self.poll_errors.popleft())
        live.polls += 1
        return JSONResponse(envelope(0, self.task_data(live)))
