"""Scriptable task queues shared by the loopback video fakes (Kling, Runway).

A test queues what the next creates do (`fake.script(Accept(Task(running=(0.3, 0.7))), Refuse(429))`);
an empty queue accepts with `Task()`. An accepted task then moves one step per status request
(`Task.waiting` polls queued, one running poll per `running` value, then its end), so progress
over several polls is exact without sleeping. `Task(hold=True)` is a slow job: it stays running
until the test calls `fake.release(task_id)`. `AcceptThenHang` creates the task (it exists and is
polled like any other) but answers the create only when the fake stops, so the client's read
timeout fires after the provider accepted the work; `AcceptThenCut` creates it and drops the
connection in the middle of the answer.

Every request is recorded (`fake.requests`: method, path, JSON body, headers); outputs are real
MP4 bytes (`data/tiny.mp4`, one second of 32x32 H.264) served by the same server.
"""

from __future__ import annotations

import asyncio
import collections
import itertools
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from tests.conftest import LiveServer

MP4 = (Path(__file__).parent / "data" / "tiny.mp4").read_bytes()


@dataclass
class Task:
    waiting: int = 1
    """Status requests answered as queued (Kling `submitted`, Runway PENDING) before it runs."""
    running: tuple[float, ...] = (0.5,)
    """One running answer per value (Runway's `progress`; Kling shows `processing`)."""
    fail: str | None = None
    """End in failure with this provider failure code (Runway `failureCode`; Kling only says failed)."""
    cost: int = 50
    """Runway credits charged when it succeeds (and, with `charge_failure`, when it fails)."""
    charge_failure: bool = False
    videos: int = 1
    duration: str = "5.1"
    throttled: bool = False
    """Runway: queued polls answer THROTTLED instead of PENDING."""
    hold: bool = False
    """A slow job: stays running after its `running` steps until `fake.release(id)`."""
    starts_on_delete: bool = False
    """Runway: the task starts running just as a DELETE arrives (the cancel race): it is billed."""


@dataclass
class Accept:
    task: Task = field(default_factory=Task)


@dataclass
class AcceptThenHang:
    """Create the task, then never answer the create (until the fake stops)."""

    task: Task = field(default_factory=Task)


@dataclass
class AcceptThenCut:
    """Create the task, start the answer, then drop the connection before the body is complete."""

    task: Task = field(default_factory=Task)


@dataclass
class Refuse:
    """An error answer in the provider's shape; `code` is Kling's JSON code."""

    status: int
    code: int | None = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Garbage:
    """A 200 whose body is not the provider's format."""


Create = Accept | AcceptThenHang | AcceptThenCut | Refuse | Garbage


@dataclass
class LiveTask:
    id: str
    kind: str
    body: dict[str, Any]
    task: Task
    polls: int = 0
    released: bool = False
    cancelled: bool = False
    charged_on_cancel: int = 0

    def phase(self) -> tuple[str, float]:
        """Where the task is after `polls` status requests: (queued|running|done, progress)."""
        if self.polls <= self.task.waiting:
            return "queued", 0.0
        step = self.polls - self.task.waiting - 1
        if step < len(self.task.running):
            return "running", self.task.running[step]
        if self.task.hold and not self.released:
            return "running", self.task.running[-1] if self.task.running else 0.5
        return "done", 1.0


class FakeVideoProvider:
    """Base: a Starlette app with a create queue and live tasks, under uvicorn on a free port."""

    id_prefix = "task"

    def __init__(self) -> None:
        self.queue: collections.deque[Create] = collections.deque()
        self.poll_errors: collections.deque[Refuse] = collections.deque()
        self.requests: list[dict[str, Any]] = []
        self.tasks: dict[str, LiveTask] = {}
        self.stopping = asyncio.Event()
        self._ids = itertools.count(1)
        self.app = Starlette(routes=[*self.routes(), Route("/files/{name}", self.file, methods=["GET"])])
        self._server: LiveServer | None = None

    def routes(self) -> list[Any]:
        raise NotImplementedError

    def script(self, *creates: Create) -> None:
        self.queue.extend(creates)

    def fail_polls(self, *errors: Refuse) -> None:
        """The next status requests answer with these errors (the task does not move)."""
        self.poll_errors.extend(errors)

    def release(self, task_id: str) -> None:
        self.tasks[task_id].released = True

    @property
    def url(self) -> str:
        assert self._server is not None
        return self._server.url

    def creates(self) -> list[dict[str, Any]]:
        return [r for r in self.requests if r["method"] == "POST"]

    async def __aenter__(self) -> FakeVideoProvider:
        self._server = LiveServer(self.app)
        await self._server.__aenter__()
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.stopping.set()
        assert self._server is not None
        await self._server.__aexit__(*exc)

    async def record(self, request: Request) -> dict[str, Any]:
        raw = await request.body()
        body: Any = None
        if raw:
            try:
                body = await request.json()
            except ValueError:
                body = raw.decode("utf-8", "replace")
        entry = {"method": request.method, "path": request.url.path, "body": body, "headers": dict(request.headers)}
        self.requests.append(entry)
        return entry

    def new_task(self, kind: str, body: dict[str, Any], task: Task) -> LiveTask:
        live = LiveTask(f"{self.id_prefix}-{next(self._ids)}", kind, body, task)
        self.tasks[live.id] = live
        return live

    async def hang(self) -> Response:
        """Hold the answer until the fake stops (bounded, so a forgotten hang fails, never blocks)."""
        try:
            await asyncio.wait_for(self.stopping.wait(), 60)
        except TimeoutError:
            pass
        return Response(status_code=503)

    def cut(self, first_bytes: bytes) -> Response:
        """An answer that starts and then breaks off: uvicorn drops the connection mid-body."""

        async def body() -> AsyncIterator[bytes]:
            yield first_bytes
            raise ConnectionResetError("fake connection cut")

        return StreamingResponse(body(), media_type="application/json")

    def output_urls(self, live: LiveTask) -> list[str]:
        return [f"{self.url}/files/{live.id}-{i}.mp4" for i in range(live.task.videos)]

    async def file(self, request: Request) -> Response:
        await self.record(request)
        name = request.path_params["name"]
        if name.rsplit("-", 1)[0] not in self.tasks or not name.endswith(".mp4"):
            return Response(status_code=404)
        return Response(MP4, media_type="video/mp4")
