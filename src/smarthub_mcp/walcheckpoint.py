"""SQLite WAL checkpoints off the event loop.

In WAL mode a commit appends pages to the `-wal` file; a checkpoint copies them back into the
database file and fsyncs both. By default SQLite runs that checkpoint inside whichever commit
crosses 1,000 WAL pages. The hot ledger verbs commit on the event loop's own thread
(`Database._write_in_loop`), so that commit would stall every request in the process for the
checkpoint's fsyncs: measured here, a reserve+capture pair took 0.56 ms at p50 and 16-19 ms at
p99, the p99 being those checkpoints.

So the in-loop writer runs with `wal_autocheckpoint=0`, and every `EVERY_COMMITS` of its commits
this schedules one PASSIVE checkpoint in a worker thread, on a connection of its own. PASSIVE
never waits for readers or writers (it copies what it can), and sqlite3 releases the GIL while it
works, so the loop keeps serving. That pass copies the bulk of the WAL and does the fsyncs that
matter, but the loop keeps committing meanwhile, so it never ends with the WAL wholly copied, and
SQLite only rewinds a WAL from its start when a write begins on a wholly copied one: the WAL would
grow without end. So the first commit after a pass finishes runs one more PASSIVE checkpoint on
the loop, which copies just the few frames committed during the pass; the next write then
rewinds the WAL. The other connections (aiosqlite's, the CLI's) keep SQLite's default and
checkpoint in their own threads.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3

log = logging.getLogger("smarthub.db")

EVERY_COMMITS = 200
"""About 1,000-3,000 WAL pages between checkpoints at the ledger's 5-15 pages per commit: the
same order as SQLite's own default threshold."""


class BackgroundCheckpoint:
    def __init__(self, path: str, *, every: int = EVERY_COMMITS) -> None:
        self.path = path
        self.every = every
        self._commits = 0
        self._running: asyncio.Future[None] | None = None
        self._conn: sqlite3.Connection | None = None
        self._catch_up = False

    def committed(self, writer: sqlite3.Connection) -> None:
        """After a commit of the in-loop `writer` (on the event loop): finish a pass that has
        completed, or start one when due."""
        if self._catch_up:
            self._catch_up = False
            try:
                writer.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
            except sqlite3.Error as exc:
                # The verb before this has committed: a failure here must not reach its caller,
                # who would take a committed reserve or capture for a failed one. The next pass
                # retries; meanwhile the WAL only grows.
                log.warning("WAL checkpoint catch-up failed (%s)", type(exc).__name__)
            return
        self._commits += 1
        if self._commits < self.every or self._running is not None:
            return
        self._commits = 0
        try:
            self._running = asyncio.get_running_loop().run_in_executor(None, self._checkpoint)
        except RuntimeError:  # the loop's executor is shutting down: the next commit tries again
            return
        self._running.add_done_callback(self._finished)

    def _checkpoint(self) -> None:
        # In the worker thread. One checkpoint at a time, so the connection is never shared.
        if self._conn is None:
            self._conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self._conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()

    def _finished(self, done: asyncio.Future[None]) -> None:
        self._running = None
        if done.cancelled():
            return
        if done.exception() is not None:
            # The next one retries; meanwhile the WAL only grows, nothing is lost.
            log.warning("background WAL checkpoint failed (%s)", type(done.exception()).__name__)
        else:
            self._catch_up = True

    async def close(self) -> None:
        """Wait for a checkpoint in flight, then close its connection."""
        if self._running is not None:
            await asyncio.wait([self._running])
        if self._conn is not None:
            self._conn.close()
            self._conn = None
