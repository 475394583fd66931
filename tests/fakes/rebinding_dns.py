"""A name that rebinds, as a DNS-rebinding attacker's name server makes it: the first lookups of
`NAME` answer a public address (what checks before the request see), every later one loopback
(what the connection made a moment after resolves to). Other names resolve as usual.

It is an event loop, because that is where asyncio and anyio (httpx's transport) resolve names;
`run` runs a coroutine in one. `Listener` is the loopback end: it records every byte it receives
and answers one plain HTTP 200.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

NAME = "rebind.example"
PUBLIC = "93.184.215.14"

T = TypeVar("T")


class RebindingLoop(asyncio.SelectorEventLoop):
    def __init__(self, public_lookups: int = 1) -> None:
        super().__init__()
        self.public_lookups = public_lookups
        self.lookups = 0

    async def getaddrinfo(self, host: Any, port: Any, *, family: int = 0, type: int = 0, proto: int = 0,
                          flags: int = 0) -> list[Any]:
        name = host.decode() if isinstance(host, bytes) else host
        if name != NAME:
            return await super().getaddrinfo(host, port, family=family, type=type, proto=proto, flags=flags)
        self.lookups += 1
        address = PUBLIC if self.lookups <= self.public_lookups else "127.0.0.1"
        return [(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (address, int(port)))]


def run(main: Callable[[], Coroutine[Any, Any, T]], public_lookups: int = 1) -> tuple[T, RebindingLoop]:
    with asyncio.Runner(loop_factory=lambda: RebindingLoop(public_lookups)) as runner:
        result = runner.run(main())
        loop = runner.get_loop()
    assert isinstance(loop, RebindingLoop)
    return result, loop


class Listener:
    """A loopback TCP server that records what it receives and answers `HTTP/1.1 200` with `body`."""

    def __init__(self, body: bytes = b"ok") -> None:
        self.body = body
        self.received = bytearray()
        self.connections = 0
        self.port = 0
        self._server: asyncio.Server | None = None
        self._done = asyncio.Event()

    async def __aenter__(self) -> Listener:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()

    async def closed(self) -> None:
        """Until the last connection made has ended."""
        await asyncio.wait_for(self._done.wait(), 5)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self._done.clear()
        try:
            while not self.received.endswith(b"\r\n\r\n"):
                chunk = await reader.read(65536)
                if not chunk:
                    return
                self.received += chunk
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: image/png\r\nConnection: close\r\nContent-Length: "
                         + str(len(self.body)).encode() + b"\r\n\r\n" + self.body)
            await writer.drain()
        except ConnectionError:
            return
        finally:
            writer.close()
            self._done.set()
