"""Job workers: any number per replica, on any number of replicas, stepping whatever is due.

Each round lists due jobs (unsettled, next check passed, no live lease), takes each one's lease by
compare-and-set (losers of the race skip it) and steps it, at most `worker_concurrency` at once.
A worker that dies keeps nothing: its leases run out and the next round elsewhere takes them.
On shutdown a worker finishes the steps it started (a submit is never abandoned mid-send while
the process still runs) and its leases go back with each step's end.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from smarthub_mcp.errors import log_failure
from smarthub_mcp.ids import now_ms
from smarthub_mcp.jobs import store
from smarthub_mcp.jobs.engine import JobEngine

log = logging.getLogger("smarthub.jobs")


async def run_round(engine: JobEngine, running: set[asyncio.Task[object]]) -> int:
    """Claim and start the steps due now, up to the free concurrency. Returns how many started."""
    free = engine.config.worker_concurrency - len(running)
    if free <= 0:
        return 0
    started = 0
    for job_id in await store.due(engine.db, now_ms(), free * 2):
        if started >= free:
            break
        job = await store.claim(engine.db, job_id, engine.owner, engine.lease_ms)
        if job is None:  # another worker took it first
            continue
        task = asyncio.create_task(_step(engine, job), name=f"job:{job_id}")
        running.add(task)
        task.add_done_callback(running.discard)
        started += 1
    return started


async def _step(engine: JobEngine, job: store.Job) -> object:
    try:
        return await engine.step(job)
    except Exception as exc:
        log_failure(log, f"job {job.id}: step failed; it is retried when its lease runs out", exc)
        return None


async def run_workers(engine: JobEngine, stop: asyncio.Event) -> None:
    """Step due jobs until `stop` is set, then let the steps in flight finish."""
    running: set[asyncio.Task[object]] = set()
    interval = engine.config.worker_interval_seconds
    try:
        while not stop.is_set():
            try:
                await run_round(engine, running)
            except Exception as exc:
                log_failure(log, "job worker round failed; retrying next interval", exc)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), interval)
    finally:
        if running:
            await asyncio.gather(*running, return_exceptions=True)
