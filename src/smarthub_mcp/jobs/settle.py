"""A job's last transaction: its final state and the capture or release of its credits, together.

`succeed` records the delivered outputs, captures their price and writes the usage row; `fail`
(and `cancel`) release the hold with a usage row. Each is one transaction that begins with the
compare-and-set on the job (`settled_at` NULL -> now), so a poller, a webhook and a cancel racing
over the same job settle it once: the losers change nothing and roll back. The capture itself is
keyed by the hold (`capture:<hold_id>`) and the usage row is unique per hold, a second guard.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncConnection

from smarthub_mcp.billing.meter import Meter, Reservation, Settlement, Usage
from smarthub_mcp.db import Database, cached_text
from smarthub_mcp.ids import now_ms
from smarthub_mcp.jobs import store
from smarthub_mcp.jobs.images import split
from smarthub_mcp.jobs.reviews import HeldOutput, queue_held
from smarthub_mcp.jobs.store import OPEN, Job
from smarthub_mcp.media.library import MediaMeta, StoredOutput, record
from smarthub_mcp.media.storage import Storage

log = logging.getLogger("smarthub.jobs")
Also = Callable[[AsyncConnection], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Outcome:
    """What a settled job came to, for the caller that settled it."""

    job_id: str
    status: str
    charged: int
    first: bool


def reservation(job: Job) -> Reservation:
    """The job's hold as the meter knows it (everything needed is on the job row)."""
    return Reservation(job.hold_id, job.owner_id, job.tool, job.model, job.estimate, job.request_id, 0,
                       job.created_at)


class _Lost(Exception):
    """Another settler got there first: roll this transaction back."""


async def succeed(db: Database, meter: Meter, storage: Storage, job: Job, *, stored: tuple[StoredOutput, ...],
                  flagged: int, lost: int, cost: int, usage: Usage, prompt: str,
                  held: tuple[HeldOutput, ...] = (), review_hold_seconds: float = 30 * 86400) -> Outcome:
    """Deliver `stored` and charge `cost` (at most the estimate), and queue `held` for review with
    their prices held; with nothing stored nor held, fail instead. A job all of whose outputs are
    held ends `failed` (`held_for_review`), charged nothing until an approval."""
    if not stored and not held:
        code = "content_flagged" if flagged else "no_output"
        message = ("the provider withheld every image under its content policy" if flagged
                   else "the provider delivered nothing usable")
        outcome = await fail(db, meter, job, code=code, message=message, flagged=flagged)
        return outcome
    charged = min(cost, job.estimate)
    shares = split(charged, len(stored))
    now = now_ms()
    settlement: Settlement | None = None
    try:
        async with db.write() as conn:
            moved = await store.move(
                conn, job.id, None, OPEN, status="succeeded" if stored else "failed", settled_at=now,
                delivered=len(stored), flagged=flagged, held=len(held), charged=charged, progress=100,
                lease_owner=None, lease_until=None, provider=usage.provider, upstream_model=usage.upstream_model,
                error_code=("partly_delivered" if stored else "held_for_review") if (flagged or lost) else None,
                error_message=_partly(flagged, len(held), lost),
            )
            if not moved:
                raise _Lost
            for item, share in zip(stored, shares, strict=True):
                await record(conn, item, MediaMeta(prompt=prompt, model=job.model, provider=usage.provider,
                                                   cost=share, job_id=job.id, media_id=item.media_id))
            settlement = await meter.settle_in(conn, reservation(job), usage)
            if settlement is None:
                log.error("job %s: its hold %s was already resolved; settled without a charge", job.id, job.hold_id)
            taken = settlement.charged if settlement is not None else 0
            if taken != charged:  # the job (and its outputs) say what the ledger took, not what was meant
                await conn.execute(cached_text("UPDATE jobs SET charged = :c WHERE id = :id"),
                                   {"c": taken, "id": job.id})
                await conn.execute(cached_text("UPDATE media SET cost = 0 WHERE job_id = :id"), {"id": job.id})
            if held:
                # Prices are held only out of what this capture just released: a job whose own hold
                # was already gone (expired) takes no new credits for its held outputs.
                await queue_held(conn, meter, job, held, prompt=prompt, provider=usage.provider,
                                 hold_seconds=review_hold_seconds,
                                 hold_prices=settlement is not None and settlement.outcome == "captured")
    except _Lost:
        await _forget_unrecorded(db, storage, stored + tuple(item.stored for item in held))
        return Outcome(job.id, "lost", 0, first=False)
    if settlement is not None:
        meter.counted(reservation(job), settlement)
    return Outcome(job.id, "succeeded", settlement.charged if settlement else 0, first=True)


async def fail(db: Database, meter: Meter, job: Job, *, code: str, message: str, status: str = "failed",
               flagged: int = 0, from_status: tuple[str, ...] = OPEN, also: Also | None = None) -> Outcome:
    """End the job without output (failed or cancelled) and give its credits back. `also` writes
    more in the same transaction (an admin's audit row)."""
    settlement: Settlement | None = None
    try:
        async with db.write() as conn:
            moved = await store.move(
                conn, job.id, None, from_status, status=status, settled_at=now_ms(), flagged=flagged, charged=0,
                error_code=code, error_message=message[:500], lease_owner=None, lease_until=None,
            )
            if not moved:
                raise _Lost
            settlement = await meter.release_in(
                conn, reservation(job), status="cancelled" if status == "cancelled" else "error", error_code=code,
            )
            if also is not None:
                await also(conn)
    except _Lost:
        return Outcome(job.id, "lost", 0, first=False)
    if settlement is not None:
        meter.counted(reservation(job), settlement)
    return Outcome(job.id, status, 0, first=True)


async def charge_without_output(db: Database, meter: Meter, job: Job, *, amount: int, code: str, message: str,
                                also: Also | None = None) -> Outcome:
    """End a job whose provider billed but delivered nothing we hold (an admin's reconciliation of
    an unknown outcome): charge `amount` (at most the estimate) and mark it failed."""
    charged = min(amount, job.estimate)
    settlement: Settlement | None = None
    try:
        async with db.write() as conn:
            moved = await store.move(
                conn, job.id, None, OPEN, status="failed", settled_at=now_ms(), charged=charged,
                error_code=code, error_message=message[:500], lease_owner=None, lease_until=None,
            )
            if not moved:
                raise _Lost
            settlement = await meter.settle_in(conn, reservation(job), Usage(cost=charged, provider=job.provider,
                                                                          upstream_model=job.upstream_model),
                                               status="error", error_code=code)
            if also is not None:
                await also(conn)
    except _Lost:
        return Outcome(job.id, "lost", 0, first=False)
    if settlement is not None:
        meter.counted(reservation(job), settlement)
    return Outcome(job.id, "failed", settlement.charged if settlement else 0, first=True)


def _partly(flagged: int, held: int, lost: int) -> str | None:
    parts = []
    if held:
        parts.append(f"{held} held for review under the content policy (charged only if approved)")
    if flagged - held:
        parts.append(f"{flagged - held} withheld by the provider's content policy (not charged)")
    if lost:
        parts.append(f"{lost} could not be fetched from the provider (not charged)")
    return "; ".join(parts) or None


async def _forget_unrecorded(db: Database, storage: Storage, stored: tuple[StoredOutput, ...]) -> None:
    """After losing the race, remove what we stored unless the winner recorded the same objects."""
    for item in stored:
        row = await db.fetch_one("SELECT id FROM media WHERE id = :id", {"id": item.media_id})
        if row is None:
            for key in (item.storage_key, item.preview_key):
                if key:
                    try:
                        await storage.delete(key)
                    except Exception:  # an orphan file is only space
                        log.warning("could not remove %s after a lost settle", key)
