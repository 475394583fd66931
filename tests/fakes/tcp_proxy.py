"""A loopback TCP proxy that can refuse connections: the database "going away" mid-call.

`cut()` closes every open connection and refuses new ones (they are accepted and closed at once, as a
server that is down behind a load balancer looks); `resume()` forwards again. `drop_replies()`
forwards what clients send and drops what comes back: a statement reaches the database and commits,
and its answer is lost (a network that fails in one direction, before the connection is cut).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable


class TcpProxy:
    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.port = 0
        self._server: asyncio.Server | None = None
        self._open: set[asyncio.StreamWriter] = set()
        self._cut = False
        self._dropping = False

    async def __aenter__(self) -> TcpProxy:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.cut()
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()

    def cut(self) -> None:
        self._cut = True
        for writer in list(self._open):
            writer.transport.abort()
        self._open.clear()

    def resume(self) -> None:
        self._cut = False
        self._dropping = False

    def drop_replies(self) -> None:
        self._dropping = True

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self._cut:
            writer.transport.abort()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.transport.abort()
            return
        self._open.update((writer, up_writer))
        try:
            await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer, self._replies_dropped))
        finally:
            for w in (writer, up_writer):
                self._open.discard(w)
                w.transport.abort()

    def _replies_dropped(self) -> bool:
        return self._dropping

    @staticmethod
    async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                    dropping: Callable[[], bool] = lambda: False) -> None:
        with contextlib.suppress(ConnectionError, OSError):
            while data := await reader.read(65536):
                if dropping():
                    continue
                writer.write(data)
                await writer.drain()
        writer.transport.abort()
