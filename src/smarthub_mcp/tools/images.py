"""`generate_image`: a paid tool that runs as a durable job (tools/generation.py).

It holds count x the model's price, submits once, waits up to `jobs.wait_seconds` sending
progress, and answers with the images (a signed download link and media id each, plus small
previews as image content for clients that show them), or with the job id while it still runs.
Only delivered images are charged; the job settles by itself if the caller leaves.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from smarthub_mcp.errors import InvalidRequest
from smarthub_mcp.jobs import images
from smarthub_mcp.jobs.images import ImageAsk
from smarthub_mcp.jobs.kinds import PERMISSIONS
from smarthub_mcp.tools.generation import JobResult, default_model, job_text, run_job, wait_for
from smarthub_mcp.tools.registry import PAID_GENERATION, ToolContext, tool

IMAGE_PERMISSION = PERMISSIONS["image"]


@tool(
    name="generate_image",
    title="Generate images",
    permission=IMAGE_PERMISSION,
    paid=True,
    annotations=PAID_GENERATION,
    summarize=job_text,
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
) -> JobResult:
    """Generate images from a text prompt. Costs the model's price per image (list_models shows it);
    only delivered images are charged. Answers with each image's download link (url) and media_id,
    or, when it takes longer, with a job_id to pass to get_job."""
    services = tc.services
    name = model or default_model(services, "image")
    config = services.router.model(name)
    if config.kind != "image":
        raise InvalidRequest(f"model '{name}' is not an image model", details={"field": "model", "kind": config.kind})
    ask = ImageAsk(prompt=prompt, size=images.resolve_size(name, config, size, aspect_ratio),
                   count=images.check_count(count, services.settings.jobs.max_images),
                   negative_prompt=negative_prompt or None, seed=seed)
    return await run_job(tc, model=name, ask=ask, wait_seconds=wait_for(tc))
