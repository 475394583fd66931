"""Scriptable behaviours shared by the loopback provider fakes.

A test queues behaviours on a fake (`fake.script(Reply("hi"), Fail(429, retry_after="1"))`); each
incoming request takes the next one, and an empty queue answers with `Reply()`. Every request is
recorded (`fake.requests`: JSON body and headers) so tests can check what the SDK sent.

A streamed `Reply` can be paced with a `Gate`: the fake stops after some text chunks and waits, so
a test can act at a known point in the middle of a stream (read, hang up) without sleeping. Image
answers (`ImagesReply` for OpenAI, `Shot` for Stability) carry real PNG bytes drawn with Pillow; a
`Shot` can be held at a gate too (a slow generation).
"""

from __future__ import annotations

import asyncio
import collections
import io
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

from PIL import Image
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from tests.conftest import LiveServer


@dataclass
class Gate:
    """A handshake inside a streamed answer. The fake sends `after` text chunks (0: none, only the
    stream's opening), sets `reached`, and sends the rest only once `release` is set. If the reader
    goes away while the stream is held, the fake's body is cancelled and `abandoned` is set: the
    test sees that the caller stopped reading, rather than guessing with a sleep."""

    after: int = 1
    reached: asyncio.Event = field(default_factory=asyncio.Event)
    release: asyncio.Event = field(default_factory=asyncio.Event)
    abandoned: asyncio.Event = field(default_factory=asyncio.Event)

    async def hold(self) -> None:
        self.reached.set()
        try:
            await asyncio.wait_for(self.release.wait(), 60)  # bounded: a forgotten gate fails, never hangs
        except asyncio.CancelledError:
            self.abandoned.set()
            raise


@dataclass
class Reply:
    """A successful answer; streamed word by word when the request asks to stream (paced by `gate`)."""

    text: str = "Hello from the fake!"
    input_tokens: int = 9
    output_tokens: int = 5
    finish: str = ""  # wire value; each fake has its own default
    model: str | None = None
    usage: bool = True  # False: omit usage (some OpenAI-compatible servers do)
    gate: Gate | None = None  # streamed only: hold the stream after `gate.after` text chunks


@dataclass
class Fail:
    """An HTTP error in the provider's own error shape."""

    status: int
    error_type: str = ""
    code: str | None = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Hang:
    """Never answer (until the fake is stopped): the client's timeout must fire."""


@dataclass
class Malformed:
    """200 with a body that is not the provider's format."""

    body: str = "{not json"


@dataclass
class BreakStream:
    """Stream `after` text chunks of `text`, then drop the connection (or send an error event)."""

    text: str = "one two three four"
    after: int = 2
    error_event: bool = False


@dataclass
class ImagesReply:
    """OpenAI Images: a generation. "b64": GPT Image style, with `usage`; "url": DALL-E style, no usage.
    `images` (None: as many as `n` asked) lets a fake answer with fewer."""

    mode: Literal["b64", "url"] = "b64"
    images: int | None = None
    usage: bool = True
    input_tokens: int = 10
    output_tokens: int = 272


@dataclass
class Shot:
    """Stability: one image. `finish` is the `finish-reason` header (SUCCESS or CONTENT_FILTERED);
    a `gate` holds the answer until the test releases it (a slow generation)."""

    finish: str = "SUCCESS"
    gate: Gate | None = None


Behaviour = Reply | Fail | Hang | Malformed | BreakStream | ImagesReply | Shot


class FakeProvider:
    """Base of the fakes: a Starlette app with a behaviour queue, run under uvicorn on a free port."""

    def __init__(self, api_key: str = "test-key") -> None:
        self.api_key = api_key
        self.queue: collections.deque[Behaviour] = collections.deque()
        self.requests: list[dict[str, Any]] = []
        self.released = asyncio.Event()
        self.gates: list[Gate] = []
        self.app = Starlette(routes=self.routes())
        self._server: LiveServer | None = None

    def routes(self) -> list[Any]:
        raise NotImplementedError

    def script(self, *behaviours: Behaviour) -> None:
        self.queue.extend(behaviours)

    @property
    def url(self) -> str:
        assert self._server is not None
        return self._server.url

    async def __aenter__(self) -> FakeProvider:
        self._server = LiveServer(self.app)
        await self._server.__aenter__()
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.released.set()
        for gate in self.gates:  # a held stream would keep uvicorn from shutting down
            gate.release.set()
        assert self._server is not None
        await self._server.__aexit__(*exc)

    def authorized(self, request: Request) -> bool:
        bearer = request.headers.get("authorization", "")
        return bearer == f"Bearer {self.api_key}" or request.headers.get("x-api-key") == self.api_key

    async def read_body(self, request: Request) -> dict[str, Any]:
        return await request.json()

    async def take(self, request: Request) -> tuple[dict[str, Any], Behaviour | Response]:
        """Record the request; return its body and the behaviour (or a ready 401 response)."""
        body = await self.read_body(request)
        self.requests.append({"body": body, "headers": dict(request.headers), "path": request.url.path})
        if not self.authorized(request):
            return body, self.error(Fail(401, "authentication_error"))
        behaviour = self.queue.popleft() if self.queue else Reply()
        if isinstance(behaviour, Hang):
            await asyncio.wait_for(self.released.wait(), 60)
            return body, Response(status_code=503)
        if isinstance(behaviour, Malformed):
            return body, Response(behaviour.body, media_type="application/json")
        if isinstance(behaviour, Fail):
            return body, self.error(behaviour)
        if isinstance(behaviour, Reply) and behaviour.gate is not None:
            assert body.get("stream"), "a Gate paces a stream; this request does not stream"
            self.gates.append(behaviour.gate)
        return body, behaviour

    def error(self, fail: Fail) -> Response:
        raise NotImplementedError


def chunks_of(text: str, parts: int | None = None) -> list[str]:
    """Split text into word pieces that concatenate back to it."""
    words = text.split(" ")
    return [w if i == 0 else " " + w for i, w in enumerate(words)][: parts if parts is not None else None]


async def paced(pieces: Iterable[str], gate: Gate | None) -> AsyncIterator[str]:
    """The text pieces of a stream, held at the gate (after its `after` pieces) when there is one."""
    pieces = list(pieces)
    for i, piece in enumerate(pieces):
        if gate is not None and i == gate.after:
            await gate.hold()
        yield piece
    if gate is not None and gate.after >= len(pieces):
        await gate.hold()


def png(width: int, height: int, shade: int = 0) -> bytes:
    """A real PNG of that size (one colour, so large sizes stay small and quick)."""
    out = io.BytesIO()
    Image.new("RGB", (width, height), (shade % 256, 96, 160)).save(out, format="PNG")
    return out.getvalue()


def json_error(status: int, body: dict[str, Any], headers: dict[str, str]) -> JSONResponse:
    return JSONResponse(body, status_code=status, headers=headers)
