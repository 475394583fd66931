"""`generate_image`: a paid tool that runs as a durable job.

It holds count x the model's price, submits once, waits up to `jobs.wait_seconds` sending
progress, and answers with the images (a signed download link and media id each, plus small
previews as image content for clients that show them), or with the job id while it still runs.
Only delivered images are charged; the job settles by itself if the caller leaves.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from smarthub_mcp.billing.meter import Metered, Usage
from smarthub_mcp.errors import InvalidRequest, SmartHubError
from smarthub_mcp.jobs import images
from smarthub_mcp.jobs.engine import IMAGE_PERMISSION
from smarthub_mcp.jobs.images import ImageAsk
from smarthub_mcp.jobs.store import Job
from smarthub_mcp.jobs.views import JobOut, job_out
from smarthub_mcp.media import library
from smarthub_mcp.services import Services
from smarthub_mcp.tools.registry import PAID_GENERATION, InlineImages, ToolContext, tool

INLINE_BUDGET_BYTES = 600_000
"""Previews inlined per result, in all: Claude Desktop caps a whole tool result at 1 MiB."""


class JobFailed(SmartHubError):
    """A generation job ended without output; nothing was charged. `details.reason` is the cause's code."""

    code = "generation_failed"
    status = 502


class ImageResult(JobOut, InlineImages):
    pass


def default_image_model(services: Services) -> str:
    for info in services.router.list_models():
        if info.kind == "image" and info.available:
            return info.name
    raise InvalidRequest("no image model is available on this server", details={"field": "model"})


def image_text(out: JobOut) -> str:
    if out.status == "succeeded":
        lines = [f"Generated {out.delivered} image(s) with {out.model} ({out.size}); charged "
                 f"{out.credits_charged} credits. Job {out.job_id}."]
        lines += [f"- {m.media_id}: {m.url}" for m in out.media]
        if out.flagged:
            lines.append(f"{out.flagged} image(s) withheld by the provider's content policy (not charged).")
        if out.media:
            lines.append(f"Links expire in {out.media[0].url_expires_in} s; get_media(media_id) gives fresh ones.")
        return "\n".join(lines)
    return (f"Job {out.job_id} is {out.status}: {out.status_help}. {out.credits_held} credits are held until it"
            f" ends. Call get_job with job_id={out.job_id} in about {out.poll_after_seconds} s.")


def raise_if_failed(job: Job) -> None:
    if job.status in ("failed", "cancelled"):
        raise JobFailed(job.error_message or "the generation failed; nothing was charged",
                        details={"job_id": job.id, "reason": job.error_code})


async def run_image_job(tc: ToolContext, *, prompt: str, model: str | None, size: str | None,
                        aspect_ratio: str | None, count: int, negative_prompt: str | None, seed: int | None,
                        wait_seconds: float) -> ImageResult:
    """Create the job, wait for it (bounded), and shape the answer: shared by MCP, the facade and /v1."""
    services = tc.services
    name = model or default_image_model(services)
    config = services.router.model(name)
    if config.kind != "image":
        raise InvalidRequest(f"model '{name}' is not an image model", details={"field": "model", "kind": config.kind})
    ask = ImageAsk(prompt=prompt, size=images.resolve_size(name, config, size, aspect_ratio),
                   count=images.check_count(count, services.settings.jobs.max_images),
                   negative_prompt=negative_prompt or None, seed=seed)
    job = await services.jobs.create_image(tc.principal, tool=tc.tool, model=name, ask=ask,
                                           request_id=tc.request_id)

    async def progress(current: Job) -> None:
        await tc.report(float(current.progress or 0), 100.0, f"{current.status}: {name}")

    job = await services.jobs.wait(job, wait_seconds, progress)
    await tc.recorded(Metered(result=job.id, charged=job.charged or 0, hold_id=job.hold_id, balance=None,
                              usage=Usage(cost=job.charged or 0, images=job.delivered)), name)
    raise_if_failed(job)
    items = await library.for_job(services.db, job.owner_id, job.id) if job.delivered else []
    out = job_out(job, items, services.storage, services.settings.storage.url_ttl_seconds)
    result = ImageResult.model_validate(out.model_dump())
    budget = INLINE_BUDGET_BYTES
    for item in items:
        if item.preview_key is None or item.preview_content_type is None:
            continue
        data = await services.storage.get(item.preview_key)
        if len(data) <= budget:
            result.attach(data, item.preview_content_type)
            budget -= len(data)
    return result


@tool(
    name="generate_image",
    title="Generate images",
    permission=IMAGE_PERMISSION,
    paid=True,
    annotations=PAID_GENERATION,
    summarize=image_text,
)
async def generate_image(
    tc: ToolContext,
    prompt: Annotated[str, Field(min_length=1, max_length=4000, description="What to draw.")],
    model: Annotated[str | None, Field(max_length=100, description="An image model from list_models;"
                                       " default: the first available.")] = None,
    size: Annotated[str | None, Field(max_length=11, description="WxH, one of the model's sizes"
                                      " (list_models); default: its first.")] = None,
    aspect_ratio: Annotated[str | None, Field(max_length=5, description="Instead of size: e.g. 16:9; the"
                                              " model's size closest to it.")] = None,
    count: Annotated[int, Field(ge=1, le=10, description="How many images (the server's limit applies).")] = 1,
    negative_prompt: Annotated[str | None, Field(max_length=2000, description="What to avoid.")] = None,
    seed: Annotated[int | None, Field(ge=0, le=2**32 - 1, description="Same seed and prompt, same image"
                                      " (on models that support it).")] = None,
) -> ImageResult:
    """Generate images from a text prompt. Costs the model's price per image (list_models shows it);
    only delivered images are charged. Answers with each image's download link (url) and media_id,
    or, when it takes longer, with a job_id to pass to get_job."""
    return await run_image_job(tc, prompt=prompt, model=model, size=size, aspect_ratio=aspect_ratio,
                               count=count, negative_prompt=negative_prompt, seed=seed,
                               wait_seconds=tc.wait_seconds if tc.wait_seconds is not None
                               else tc.services.settings.jobs.wait_seconds)
