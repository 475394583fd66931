"""The rendering queue as an admin sees it, and settling a job by hand.

A job whose outcome is unknown (its provider went quiet after taking it) keeps its credits held.
Once the operator knows from the provider what happened, they settle it: `release` (the provider
did not bill: credits return) or `charge` (it billed but we hold no output: charge what it cost,
at most what is held). Either is audited in the same transaction that settles the job.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy.ext.asyncio import AsyncConnection

from smarthub_mcp.db import Database
from smarthub_mcp.errors import Conflict, InvalidRequest
from smarthub_mcp.identity.audit import write_audit
from smarthub_mcp.ids import now_ms
from smarthub_mcp.jobs import settle, store
from smarthub_mcp.jobs.engine import JobEngine
from smarthub_mcp.jobs.errors import JobNotFound
from smarthub_mcp.jobs.store import Job
from smarthub_mcp.pages import page, row_id, where

SETTLEABLE = ("unknown", "running", "submitting")


@dataclass(frozen=True)
class QueueRow:
    job: Job
    owner_email: str | None


async def queue(db: Database, *, status: str | None, limit: int, cursor: str | None,
                open_only: bool) -> tuple[list[QueueRow], str | None]:
    """Every user's jobs, newest first: the open ones by default (what is rendering or stuck)."""
    if not 1 <= limit <= store.MAX_LIMIT:
        raise InvalidRequest(f"limit must be between 1 and {store.MAX_LIMIT}", details={"field": "limit"})
    if status is not None and status not in (*store.OPEN, *store.FINAL):
        raise InvalidRequest("status is not a job status", details={"field": "status"})
    params: dict[str, Any] = {"n": limit + 1}
    more = where(params, [("j.id < :cursor", "cursor", cursor), ("j.status = :status", "status", status)])
    if open_only and status is None:
        more += " AND j.settled_at IS NULL"
    rows = await db.fetch(
        f"SELECT j.*, u.email AS owner_email FROM jobs j LEFT JOIN users u ON u.id = j.owner_id WHERE {more}"
        " ORDER BY j.id DESC LIMIT :n", params,
    )
    shown, next_cursor = page(rows, limit, row_id)
    return [QueueRow(Job.from_row(r), r.owner_email) for r in shown], next_cursor


async def settle_by_hand(engine: JobEngine, job_id: str, *, action: Literal["release", "charge"], amount: int | None,
                         reason: str, actor_id: str, ip: str | None, request_id: str | None) -> Job:
    """Settle an open job the operator has reconciled with its provider; audited."""
    job = await store.get(engine.db, store.check_job_id(job_id))
    if job is None:
        raise JobNotFound("no such job")
    if job.settled or job.status not in SETTLEABLE:
        raise Conflict(f"the job is {job.status}; only an unknown, running or submitting job is settled by hand",
                       details={"status": job.status})
    if action == "charge" and (amount is None or amount <= 0):
        raise InvalidRequest("charge needs a positive amount of credits", details={"field": "credits"})

    async def audit(conn: AsyncConnection) -> None:
        await write_audit(conn, actor_id=actor_id, action=f"job.settle.{action}", target_id=job.id,
                          target_type="job", before={"status": job.status, "held": job.estimate},
                          after={"action": action, "amount": amount, "reason": reason, "at": now_ms()},
                          ip=ip, request_id=request_id)

    message = f"settled by an admin: {reason}"
    if action == "release":
        outcome = await settle.fail(engine.db, engine.meter, job, code="settled_by_admin", message=message,
                                    from_status=SETTLEABLE, also=audit)
    else:
        outcome = await settle.charge_without_output(engine.db, engine.meter, job, amount=amount or 0,
                                                     code="settled_by_admin", message=message, also=audit)
    if not outcome.first:
        raise Conflict("the job was settled by something else meanwhile", details={"job_id": job.id})
    await engine.changed(job.id)
    latest = await store.get(engine.db, job.id)
    assert latest is not None
    return latest
