"""What the generation tools share: run a job for the caller (create, wait with progress, record
the charge), shape its answer (links in text and structuredContent, small previews as image
content), and say what a job came to in words.

A job that ends without output raises `GenerationFailed` (nothing was charged), unless its outputs
are held for review (moderation): that, like a job still running when the wait ends, is an ordinary
answer with its `job_id`.
"""

from __future__ import annotations

from smarthub_mcp.billing.meter import Metered, Usage
from smarthub_mcp.errors import InvalidRequest, SmartHubError
from smarthub_mcp.jobs.kinds import Ask, kind_of
from smarthub_mcp.jobs.store import Job
from smarthub_mcp.jobs.views import JobOut, job_out
from smarthub_mcp.media import library
from smarthub_mcp.services import Services
from smarthub_mcp.tools.registry import InlineImages, ToolContext

INLINE_BUDGET_BYTES = 600_000
"""Previews inlined per result, in all: Claude Desktop caps a whole tool result at 1 MiB."""


class GenerationFailed(SmartHubError):
    """A generation job ended without output; nothing was charged. `details.reason` is the cause's code."""

    code = "generation_failed"
    status = 502


class JobResult(JobOut, InlineImages):
    """A job's answer, with the outputs' previews (poster frames for videos) for MCP clients."""


def default_model(services: Services, kind: str) -> str:
    for info in services.router.list_models():
        if info.kind == kind and info.available:
            return info.name
    raise InvalidRequest(f"no {kind} model is available on this server", details={"field": "model"})


def job_text(out: JobOut) -> str:
    noun = "image" if out.kind == "image" else "video"
    if out.status == "succeeded":
        what = out.size or ""
        lines = [f"Generated {out.delivered} {noun}(s) with {out.model} {what}; charged {out.credits_charged}"
                 f" credits. Job {out.job_id}."]
        lines += [f"- {m.media_id}: {m.url}" for m in out.media]
        if out.flagged:
            lines.append(f"{out.flagged} {noun}(s) flagged under the content policy (not charged): "
                         f"{out.error_message}.")
        if out.media:
            lines.append(f"Links expire in {out.media[0].url_expires_in} s; get_media(media_id) gives fresh ones.")
        return "\n".join(lines)
    if out.error_code == "held_for_review":
        return (f"Job {out.job_id}: every {noun} made was held for review under the content policy; nothing is"
                f" charged unless a reviewer approves it (then it appears in your media). {out.error_message}.")
    if out.status in ("failed", "cancelled"):
        return f"Job {out.job_id} {out.status} [{out.error_code}]: {out.error_message or out.status_help}."
    done = f" {out.progress}% done." if out.progress else ""
    return (f"Job {out.job_id} is {out.status}: {out.status_help}.{done} {out.credits_held} credits are held until"
            f" it ends. Call get_job with job_id={out.job_id} in about {out.poll_after_seconds} s.")


async def run_job(tc: ToolContext, *, model: str, ask: Ask, wait_seconds: float) -> JobResult:
    """Create the job, step it while we wait (progress to the caller), record its charge, answer."""
    services = tc.services
    # Checked before anything is held: a refused prompt moves no credit.
    text = ask.prompt if not ask.negative_prompt else f"{ask.prompt}\n{ask.negative_prompt}"
    await services.moderator.check(tc.principal, kind_of(ask), text)
    job = await services.jobs.create(tc.principal, tool=tc.tool, model=model, ask=ask, request_id=tc.request_id)

    async def progress(current: Job) -> None:
        await tc.report(float(current.progress or 0), 100.0, f"{current.status}: {model}")

    job = await services.jobs.wait(job, wait_seconds, progress)
    await tc.recorded(Metered(result=job.id, charged=job.charged or 0, hold_id=job.hold_id, balance=None,
                              usage=Usage(cost=job.charged or 0, images=job.delivered)), model)
    # Every output held for review is not a failure to report: the answer says so, with the job id.
    if job.status in ("failed", "cancelled") and job.error_code != "held_for_review":
        raise GenerationFailed(job.error_message or "the generation failed; nothing was charged",
                               details={"job_id": job.id, "reason": job.error_code})
    return await answer(services, job)


async def answer(services: Services, job: Job) -> JobResult:
    """The job as its owner sees it, with previews inlined while they fit the budget."""
    items = await library.for_job(services.db, job.owner_id, job.id) if job.delivered else []
    out = job_out(job, items, services.storage, services.settings.storage.url_ttl_seconds)
    result = JobResult.model_validate(out.model_dump())
    budget = INLINE_BUDGET_BYTES
    for item in items:
        if item.preview_key is None or item.preview_content_type is None:
            continue
        data = await services.storage.get(item.preview_key)
        if len(data) <= budget:
            result.attach(data, item.preview_content_type)
            budget -= len(data)
    return result


def wait_for(tc: ToolContext) -> float:
    return tc.wait_seconds if tc.wait_seconds is not None else tc.services.settings.jobs.wait_seconds
