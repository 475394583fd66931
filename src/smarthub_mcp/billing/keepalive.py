"""Two background helpers of the meter: a running call's hold kept alive, and releases that failed
retried until they land (or logged, when they cannot).

A hold's TTL is a safety net for a crashed process, not a deadline for a live call: while the call
runs, `KeepAlive` pushes the expiry out every third of the TTL, so the sweeper never takes the funds
of a call that may still be charged. A release that fails (the database refused a connection, the
pool was dry) is retried in the background with backoff for as long as the hold could still be open,
so the funds come back promptly; each failure and the final state are logged, never silently lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from smarthub_mcp.ids import now_ms

log = logging.getLogger("smarthub.meter")

Extend = Callable[[str, int], Awaitable[bool]]


class KeepAlive:
    """While open, extend hold `hold_id` to now + ttl every ttl/3 seconds.

    A timer, not a task: most calls end long before the first beat, and cancelling a timer handle
    costs nothing, where a task per call costs its creation, a cancellation and a loop turn."""

    def __init__(self, extend: Extend, hold_id: str, ttl_seconds: float) -> None:
        self._extend, self._hold_id, self._ttl = extend, hold_id, ttl_seconds
        self._timer: asyncio.TimerHandle | None = None
        self._beat: asyncio.Task[None] | None = None
        self._open = False

    async def __aenter__(self) -> KeepAlive:
        self._open = True
        self._schedule()
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._open = False
        if self._timer is not None:
            self._timer.cancel()
        if self._beat is not None and not self._beat.done():
            self._beat.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._beat

    def _schedule(self) -> None:
        self._timer = asyncio.get_running_loop().call_later(self._ttl / 3, self._fire)

    def _fire(self) -> None:
        if self._open:
            self._beat = asyncio.get_running_loop().create_task(self._extend_once(), name=f"keepalive-{self._hold_id}")

    async def _extend_once(self) -> None:
        try:
            if not await self._extend(self._hold_id, now_ms() + int(self._ttl * 1000)):
                return  # resolved meanwhile: nothing left to keep alive
        except Exception as exc:  # the next beat tries again; the TTL still has two thirds left
            log.warning("could not extend hold %s (%s); retrying", self._hold_id, type(exc).__name__)
        if self._open:
            self._schedule()


class Retrier:
    """Runs release attempts that failed in the foreground until one succeeds or `deadline_ms`."""

    def __init__(self, first_delay: float = 0.2, max_delay: float = 30.0) -> None:
        self.first_delay, self.max_delay = first_delay, max_delay
        self._tasks: set[asyncio.Task[None]] = set()

    def retry(
        self, what: str, attempt: Callable[[], Awaitable[object]], deadline_ms: int, *, at_once: bool = False
    ) -> None:
        """Call `attempt` (now when `at_once`, else after a short delay) until it returns without
        raising, backing off, and give up, logged, once `deadline_ms` has passed."""
        task = asyncio.get_running_loop().create_task(self._until_done(what, attempt, deadline_ms, at_once))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _until_done(
        self, what: str, attempt: Callable[[], Awaitable[object]], deadline_ms: int, at_once: bool
    ) -> None:
        delay, tries = (0.0 if at_once else self.first_delay), 0
        while True:
            await asyncio.sleep(delay)
            tries += 1
            try:
                await attempt()
            except Exception as exc:
                delay = min(max(delay * 2, self.first_delay), self.max_delay)
                if now_ms() + delay * 1000 > deadline_ms:
                    log.error("gave up on %s after %d attempts (%s); the sweeper releases it at its expiry",
                              what, tries, type(exc).__name__)
                    return
                continue
            if tries > 1:
                log.info("%s done on attempt %d", what, tries)
            return

    async def wait(self) -> None:
        """Let retries in flight finish (shutdown; and tests, to observe the end state)."""
        if self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    def cancel(self) -> None:
        for task in list(self._tasks):
            task.cancel()
