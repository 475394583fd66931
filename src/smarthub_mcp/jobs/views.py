"""How a job is shown to its owner, the same over MCP and HTTP: `job_id`, `status`, and per output
`media_id` and `url` (the names every structured result uses), what it holds and what it cost."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from smarthub_mcp.billing.money import format_credits
from smarthub_mcp.db import Database
from smarthub_mcp.jobs.store import Job
from smarthub_mcp.media import library
from smarthub_mcp.media.storage import Storage
from smarthub_mcp.media.views import MediaOut, media_out

STATUS_HELP = {
    "queued": "accepted, about to be sent to the provider",
    "submitting": "being sent to the provider",
    "running": "the provider is working on it",
    "unknown": "the provider went quiet after taking it; credits stay held while it is reconciled",
    "succeeded": "done",
    "failed": "failed; nothing charged",
    "cancelled": "cancelled; nothing charged",
}


class JobOut(BaseModel):
    job_id: str
    status: str = Field(description="queued, submitting, running, unknown, succeeded, failed or cancelled.")
    status_help: str
    kind: str = Field(description="image or video")
    model: str
    prompt: str
    size: str | None = None
    count: int = Field(description="Outputs asked for.")
    progress: int | None = Field(None, description="0-100 while running, when the provider reports it.")
    delivered: int = Field(description="Outputs delivered (and charged).")
    flagged: int = Field(description="Outputs flagged under the content policy (the provider's or this server's):"
                         " not delivered, not charged.")
    held_for_review: int = Field(0, description="Of the flagged outputs, those waiting for an admin's review: one"
                                 " approved is delivered (and charged) then, one rejected is deleted.")
    credits_held: str = Field(description="Credits held while the job runs; released as it settles.")
    credits_charged: str | None = Field(description="Credits charged once settled; null while running.")
    error_code: str | None = None
    error_message: str | None = None
    media: list[MediaOut] = Field(default_factory=list, description="The delivered outputs, with download links.")
    poll_after_seconds: int | None = Field(None, description="While it runs: call get_job again after this long.")
    created_at: int
    settled_at: int | None


def job_out(job: Job, media: list[library.MediaItem], storage: Storage, ttl: int) -> JobOut:
    ask: dict[str, Any] = job.request_data()
    return JobOut(
        job_id=job.id,
        status=job.status,
        status_help=STATUS_HELP.get(job.status, job.status),
        kind=job.kind,
        model=job.model,
        prompt=str(ask.get("prompt", "")),
        size=ask.get("size"),
        count=int(ask.get("count", 1)),
        progress=100 if job.status == "succeeded" else job.progress,
        delivered=job.delivered,
        flagged=job.flagged,
        held_for_review=job.held,
        credits_held=format_credits(0 if job.settled else job.estimate),
        credits_charged=format_credits(job.charged or 0) if job.settled else None,
        error_code=job.error_code,
        error_message=job.error_message,
        media=[media_out(item, storage, ttl) for item in media],
        poll_after_seconds=None if job.settled else (5 if job.status in ("queued", "submitting", "running") else 300),
        created_at=job.created_at,
        settled_at=job.settled_at,
    )


async def show(db: Database, storage: Storage, job: Job, ttl: int) -> JobOut:
    media = await library.for_job(db, job.owner_id, job.id) if job.delivered else []
    return job_out(job, media, storage, ttl)
