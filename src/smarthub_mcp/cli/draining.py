"""The uvicorn server `smarthub serve` runs: uvicorn's own, with a drain before its shutdown."""

from __future__ import annotations

import logging
import signal
import time
from types import FrameType

import uvicorn
from starlette.applications import Starlette

log = logging.getLogger("smarthub")


class DrainingServer(uvicorn.Server):
    """uvicorn, with a drain before its shutdown: on the first SIGTERM the app's /readyz answers 503
    for `drain_seconds` while requests are still served, so a balancer's health check takes the
    replica out before it stops accepting (what it would otherwise send to a closing socket is lost
    to the client as a 502). Then uvicorn's own graceful shutdown runs. SIGINT, or a second SIGTERM,
    stops at once (still gracefully)."""

    def __init__(self, config: uvicorn.Config, *, app: Starlette, drain_seconds: float) -> None:
        super().__init__(config)
        self.app = app
        self.drain_seconds = drain_seconds
        self.drain_until: float | None = None

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if sig == signal.SIGTERM and self.drain_seconds > 0 and self.drain_until is None:
            self.drain_until = time.monotonic() + self.drain_seconds
            self.app.state.draining = True
            log.info(
                "SIGTERM: draining for %s s (readiness 503, still serving; %d request(s) in flight), then stopping",
                self.drain_seconds, len(self.server_state.tasks))
            return
        super().handle_exit(sig, frame)

    async def on_tick(self, counter: int) -> bool:
        if self.drain_until is not None and time.monotonic() >= self.drain_until:
            self.should_exit = True
        return await super().on_tick(counter)
