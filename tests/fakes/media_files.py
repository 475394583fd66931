"""What the loopback media fakes share: real PNG outputs served on the fake, a request log, and the
submit behaviours every queue API can be scripted with.

    fake.script(Job(...))                 # the next submit creates this job
    fake.script(Refuse(401))              # the next submit is refused
    fake.script(AcceptThenHang())         # the next submit creates its job and never answers
    fake.submits                          # every submit received, recorded before anything else
"""

from __future__ import annotations

import asyncio
import collections
import io
from dataclasses import dataclass
from typing import Any

from PIL import Image
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tests.conftest import LiveServer


@dataclass
class Refuse:
    """The submit is answered with this error (`status`) and creates no job."""

    status: int


@dataclass
class AcceptThenHang:
    """The provider creates the job (it runs and would bill), but the submit's answer never comes."""


@dataclass
class Garbled:
    """The provider creates the job and answers 200 with a body that is not its format."""


def png(width: int, height: int, index: int) -> bytes:
    image = Image.new("RGB", (width, height), (40 * index % 256, 90, 160))
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


class MediaFake:
    """Base of the media fakes: Starlette under uvicorn on a free loopback port."""

    def __init__(self, api_key: str = "test-key") -> None:
        self.api_key = api_key
        self.queue: collections.deque[Any] = collections.deque()
        self.requests: list[dict[str, Any]] = []
        self.files: dict[str, bytes] = {}
        self.released = asyncio.Event()
        self.app = Starlette(routes=[Route("/files/{name}", self.file, methods=["GET"]), *self.routes()])
        self._server: LiveServer | None = None

    def routes(self) -> list[Any]:
        raise NotImplementedError

    def script(self, *behaviours: Any) -> None:
        self.queue.extend(behaviours)

    @property
    def url(self) -> str:
        assert self._server is not None
        return self._server.url

    @property
    def submits(self) -> list[dict[str, Any]]:
        return [r for r in self.requests if r["method"] == "POST"]

    async def __aenter__(self) -> MediaFake:
        self._server = LiveServer(self.app)
        await self._server.__aenter__()
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.released.set()  # a hung submit would keep uvicorn from shutting down
        assert self._server is not None
        await self._server.__aexit__(*exc)

    async def record(self, request: Request) -> Any:
        raw = await request.body()
        body = None
        if raw:
            try:
                body = await request.json()
            except ValueError:
                body = raw.decode(errors="replace")
        self.requests.append({"method": request.method, "path": request.url.path, "query": dict(request.query_params),
                              "headers": dict(request.headers), "body": body})
        return body

    async def hang(self) -> Response:
        await asyncio.wait_for(self.released.wait(), 60)  # bounded: a forgotten hang fails, never blocks
        return Response(status_code=503)

    def add_file(self, name: str, width: int, height: int, index: int) -> str:
        self.files[name] = png(width, height, index)
        return f"{self.url}/files/{name}"

    async def file(self, request: Request) -> Response:
        await self.record(request)
        name = request.path_params["name"]
        data = self.files.get(name)
        if data is None:
            return Response(status_code=404)
        return Response(data, media_type="video/mp4" if name.endswith(".mp4") else "image/png")
