"""`generate_video`: a paid tool that runs as a durable job (tools/generation.py).

It holds the model's per-second price for the duration asked (or the model's default duration,
which is what the provider makes), submits once, waits up to `jobs.wait_seconds` sending progress,
and answers with the video (a signed link, its media id, a poster frame) or, far more often, with
the job id and when to look again: video takes minutes. Failed or cancelled-before-start jobs
cost nothing; the charge is the seconds the provider reports making, at the frozen price.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from smarthub_mcp.errors import InvalidRequest
from smarthub_mcp.jobs import videos
from smarthub_mcp.jobs.kinds import PERMISSIONS
from smarthub_mcp.jobs.videos import VideoAsk
from smarthub_mcp.media import library
from smarthub_mcp.services import Services
from smarthub_mcp.tools.generation import JobResult, default_model, job_text, run_job, wait_for
from smarthub_mcp.tools.registry import PAID_GENERATION, ToolContext, tool

VIDEO_PERMISSION = PERMISSIONS["video"]
START_IMAGE_LINK_SECONDS = 6 * 3600
"""How long the link to a start image from the library works: long enough for a queued job."""


async def start_image_url(services: Services, owner_id: str, start_image: str | None) -> str | None:
    """A start image given as one of the caller's media ids becomes a signed link to it (the provider
    fetches it); a link is passed on as it is."""
    if start_image is None:
        return None
    if start_image.startswith(("https://", "http://")):
        return start_image
    item = await library.get_for(services.db, owner_id, start_image)
    if item.kind != "image":
        raise InvalidRequest("start_image must be an image", details={"field": "start_image"})
    return services.storage.url(item.storage_key, expires_in=START_IMAGE_LINK_SECONDS)


@tool(
    name="generate_video",
    title="Generate a video",
    permission=VIDEO_PERMISSION,
    paid=True,
    annotations=PAID_GENERATION,
    summarize=job_text,
)
async def generate_video(
    tc: ToolContext,
    prompt: Annotated[str, Field(min_length=1, max_length=4000, description="What happens in the video.")],
    model: Annotated[str | None, Field(max_length=100, description="A video model from list_models;"
                                       " default: the first available.")] = None,
    duration: Annotated[int | None, Field(ge=1, le=60, description="Seconds, one the model offers"
                                          " (list_models); default: its first.")] = None,
    aspect_ratio: Annotated[str | None, Field(max_length=5, description="e.g. 16:9, one the model offers;"
                                              " default: its first.")] = None,
    mode: Annotated[str | None, Field(max_length=20, description="Quality tier the model prices, e.g. std or"
                                      " pro; default: its first.")] = None,
    start_image: Annotated[str | None, Field(max_length=2000, description="Image-to-video: one of your media"
                                             " ids (med_...) or an https link to an image.")] = None,
    negative_prompt: Annotated[str | None, Field(max_length=2000, description="What to avoid.")] = None,
    seed: Annotated[int | None, Field(ge=0, le=2**32 - 1, description="For models that support it.")] = None,
) -> JobResult:
    """Generate a short video from a prompt (and optionally a start image). Costs the model's price
    per second (list_models shows it); failed jobs cost nothing. Videos take minutes: this usually
    answers with a job_id; pass it to get_job to see progress and, when done, the download link."""
    services = tc.services
    name = model or default_model(services, "video")
    config = services.router.model(name)
    if config.kind != "video":
        raise InvalidRequest(f"model '{name}' is not a video model", details={"field": "model", "kind": config.kind})
    seconds, ratio, tier = videos.resolve(name, config, duration=duration, aspect_ratio=aspect_ratio, mode=mode)
    ask = VideoAsk(prompt=prompt, duration=seconds, aspect_ratio=ratio, mode=tier,
                   start_image_url=await start_image_url(services, tc.principal.user_id, start_image),
                   negative_prompt=negative_prompt or None, seed=seed)
    return await run_job(tc, model=name, ask=ask, wait_seconds=wait_for(tc))
