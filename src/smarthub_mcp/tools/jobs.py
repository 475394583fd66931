"""Generation jobs as tools: show one, list yours, cancel one. Free.

Permission `tools:image` or `tools:video` (identity/principal.py: a connector allowed video only
still follows its video jobs). Another user's job id is "not found".
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, Field

from smarthub_mcp.jobs import store
from smarthub_mcp.jobs.kinds import JOBS_PERMISSION
from smarthub_mcp.jobs.views import JobOut, show
from smarthub_mcp.tools.generation import job_text
from smarthub_mcp.tools.registry import ACCOUNT_CHANGE, READ_ONLY, ToolContext, tool

JobStatus = Literal["queued", "submitting", "running", "unknown", "succeeded", "failed", "cancelled"]



class JobPage(BaseModel):
    items: list[JobOut]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next (older) page; null: no more.")


def _page_text(page: JobPage) -> str:
    if not page.items:
        return "No jobs yet."
    lines = [f"{len(page.items)} job(s), newest first:"]
    lines += [f"- {j.job_id}: {j.status} ({j.model}, {j.delivered}/{j.count} delivered, "
              f"{j.credits_charged or j.credits_held} credits): {j.prompt[:60]!r}" for j in page.items]
    if page.next_cursor:
        lines.append(f"More: call list_jobs with cursor={page.next_cursor}")
    return "\n".join(lines)


def _ttl(tc: ToolContext) -> int:
    return tc.services.settings.storage.url_ttl_seconds


@tool(name="get_job", title="Show a generation job", permission=JOBS_PERMISSION, paid=False,
      annotations=READ_ONLY, summarize=job_text)
async def get_job(tc: ToolContext, job_id: Annotated[str, Field(max_length=64)]) -> JobOut:
    """Show one of your generation jobs by job_id: its status and progress, the credits it holds or
    was charged, and, once done, each output's download link (url) and media_id. Free."""
    job = await store.get_for(tc.services.db, tc.principal.user_id, job_id)
    return await show(tc.services.db, tc.services.storage, job, _ttl(tc))


@tool(name="list_jobs", title="List my generation jobs", permission=JOBS_PERMISSION, paid=False,
      annotations=READ_ONLY, summarize=_page_text)
async def list_jobs(
    tc: ToolContext,
    status: Annotated[JobStatus | None, Field(description="Only jobs in this status.")] = None,
    limit: Annotated[int, Field(ge=1, le=store.MAX_LIMIT, description="How many jobs to show.")] = 20,
    cursor: Annotated[str | None, Field(max_length=64, description="`next_cursor` of the previous page.")] = None,
) -> JobPage:
    """List your generation jobs, newest first, with status, model, outputs delivered and credits. Free."""
    jobs, next_cursor = await store.list_for(tc.services.db, tc.principal.user_id, limit=limit, cursor=cursor,
                                             status=status)
    items = [await show(tc.services.db, tc.services.storage, job, _ttl(tc)) for job in jobs]
    return JobPage(items=items, next_cursor=next_cursor)


@tool(name="cancel_job", title="Cancel a generation job", permission=JOBS_PERMISSION, paid=False,
      annotations=ACCOUNT_CHANGE, summarize=job_text)
async def cancel_job(tc: ToolContext, job_id: Annotated[str, Field(max_length=64)]) -> JobOut:
    """Cancel one of your generation jobs that is still running: it is stopped at the provider where
    the provider allows it, and the credits it holds are returned. A finished job is shown as it is. Free."""
    job = await tc.services.jobs.cancel(tc.principal.user_id, job_id)
    return await show(tc.services.db, tc.services.storage, job, _ttl(tc))
