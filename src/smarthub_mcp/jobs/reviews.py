"""Outputs held for review: their money and their media. (The rows are moderation/reviews.py's.)

A flagged output (the provider's own flag, or our output check's) is stored but not delivered nor
charged. In the job's settling transaction (jobs/settle.py) each one gets a review row, a held media
row and a hold of its price, taken from what the job's own hold just released: so approving it later
can always charge it, and the money has one path either way.

    approve: the media joins the owner's library, the review hold is captured (a usage row, once),
             the job counts one more delivered output and its charge;
    reject:  the media is marked rejected and deleted from storage, the review hold is released.

Each decision is one transaction that starts with the compare-and-set on the review (pending ->
decided) and writes the admin's audit row, so two admins deciding at once decide once. A review
hold the sweeper expired first (`[moderation] review_hold_days`) is delivered uncharged on approval.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Literal

from sqlalchemy.ext.asyncio import AsyncConnection

from smarthub_mcp.billing.meter import Meter, Reservation, Settlement, Usage
from smarthub_mcp.db import Database, cached_text
from smarthub_mcp.errors import Conflict, InsufficientCredits
from smarthub_mcp.identity.audit import write_audit
from smarthub_mcp.jobs import store
from smarthub_mcp.jobs.store import Job
from smarthub_mcp.media import library
from smarthub_mcp.media.library import MediaMeta, StoredOutput
from smarthub_mcp.media.storage import Storage
from smarthub_mcp.moderation import reviews
from smarthub_mcp.moderation.checks import Flag
from smarthub_mcp.moderation.reviews import Review

log = logging.getLogger("smarthub.jobs")


@dataclass(frozen=True, slots=True)
class HeldOutput:
    stored: StoredOutput
    flag: Flag
    price: int
    """What approving it charges (its share of the job's price for the outputs made)."""


async def queue_held(conn: AsyncConnection, meter: Meter, job: Job, held: tuple[HeldOutput, ...], *,
                     prompt: str, provider: str | None, hold_seconds: float, hold_prices: bool = True) -> None:
    """Inside the job's settling transaction, after its own hold was settled: a held media row, a
    review row and (with `hold_prices`) a hold of its price for each held output."""
    for item in held:
        hold_id = None
        if item.price > 0 and hold_prices:
            try:
                hold = await meter.ledger.reserve(
                    job.owner_id, item.price, ttl_seconds=hold_seconds,
                    idempotency_key=f"review:{item.stored.media_id}", reference=job.tool, model=job.model,
                    request_id=job.request_id, conn=conn)
                hold_id = hold.id
            except InsufficientCredits:  # the job's own hold was gone (expired): approving delivers uncharged
                log.warning("job %s: no credits to hold for held output %s", job.id, item.stored.media_id)
        await library.record(conn, item.stored, MediaMeta(prompt=prompt, model=job.model, provider=provider,
                                                          job_id=job.id, media_id=item.stored.media_id, held=True))
        await reviews.insert(conn, media_id=item.stored.media_id, job_id=job.id, user_id=job.owner_id, kind=job.kind,
                             source=item.flag.source, category=item.flag.category, price=item.price, hold_id=hold_id)


def _reservation(review: Review, job: Job) -> Reservation:
    return Reservation(review.hold_id, review.user_id, job.tool, job.model, review.price, job.request_id, 0,
                       review.created_at)


async def decide(db: Database, meter: Meter, storage: Storage, review_id: str, *,
                 decision: Literal["approve", "reject"], reason: str, actor_id: str, ip: str | None,
                 request_id: str | None) -> Review:
    """Approve (deliver, then charge once) or reject (delete, release) one held output; audited."""
    review = await reviews.get(db, review_id)
    if review.status != "pending":
        raise Conflict(f"this review was already decided ({review.status})", details={"status": review.status})
    job = await store.get(db, review.job_id)
    assert job is not None, "a review's job is never deleted"
    status = "approved" if decision == "approve" else "rejected"
    settlement: Settlement | None = None
    async with db.write() as conn:
        if not await reviews.decide(conn, review.id, status=status, reason=reason, actor_id=actor_id):
            raise Conflict("this review was decided by someone else meanwhile", details={"review_id": review.id})
        res = _reservation(review, job)
        if decision == "approve":
            settlement = await _approve(conn, meter, review, job, res)
        else:
            await library.reject_held(conn, review.media_id)
            if review.hold_id is not None:
                settlement = await meter.release_in(conn, res, status="rejected", error_code="rejected_in_review")
            await conn.execute(cached_text("UPDATE jobs SET held = held - 1 WHERE id = :id AND held > 0"),
                               {"id": job.id})
        await write_audit(conn, actor_id=actor_id, action=f"moderation.{status}", target_id=review.id,
                          target_type="moderation_review",
                          before={"status": "pending", "media_id": review.media_id, "user_id": review.user_id},
                          after={"status": status, "reason": reason,
                                 "charged": settlement.charged if settlement is not None else 0},
                          ip=ip, request_id=request_id)
    if settlement is not None and review.hold_id is not None:
        meter.counted(res, settlement)
    if decision == "reject":
        await library.forget_files(storage, await library.get_held(db, review.media_id))
    return await reviews.get(db, review.id)


async def _approve(conn: AsyncConnection, meter: Meter, review: Review, job: Job,
                   res: Reservation) -> Settlement | None:
    settlement = None
    charged = 0
    if review.hold_id is not None:
        usage = Usage(cost=review.price, provider=job.provider, upstream_model=job.upstream_model,
                      images=1 if job.kind == "image" else 0)
        settlement = await meter.settle_in(conn, res, usage)
        charged = settlement.charged if settlement is not None else 0
    await library.release_held(conn, review.media_id, charged)
    await reviews.set_charged(conn, review.id, charged)
    # The job now counts the output as delivered; a job every output of which was held (failed,
    # held_for_review) has succeeded after all.
    await conn.execute(cached_text(
        "UPDATE jobs SET delivered = delivered + 1, held = held - 1, charged = COALESCE(charged, 0) + :c,"
        " status = CASE WHEN status = 'failed' AND error_code = 'held_for_review' THEN 'succeeded' ELSE status END"
        " WHERE id = :id AND held > 0"), {"c": charged, "id": job.id})
    return settlement
