"""What differs between an image job and a video job, in one place: the permission, the provider
request built from the stored one, the estimate held and the charge for what was delivered."""

from __future__ import annotations

from smarthub_mcp.config import PriceConfig
from smarthub_mcp.identity.principal import JOBS_AND_MEDIA
from smarthub_mcp.jobs import images, videos
from smarthub_mcp.jobs.images import ImageAsk
from smarthub_mcp.jobs.store import Job
from smarthub_mcp.jobs.videos import VideoAsk
from smarthub_mcp.providers.media import Finished, MediaRequest

Ask = ImageAsk | VideoAsk
PERMISSIONS = {"image": "tools:image", "video": "tools:video"}
JOBS_PERMISSION = JOBS_AND_MEDIA
"""What the job tools and routes need (get_job, list_jobs, cancel_job): `tools:image` or
`tools:video` (identity/principal.py); making a job needs its kind's own permission."""


def kind_of(ask: Ask) -> str:
    return "image" if isinstance(ask, ImageAsk) else "video"


def ask_of(job: Job) -> Ask:
    data = job.request_data()
    return ImageAsk.from_json(data) if job.kind == "image" else VideoAsk.from_json(data)


def provider_request(job: Job) -> MediaRequest:
    ask = ask_of(job)
    return ask.provider_request() if isinstance(ask, ImageAsk) else ask.provider_request(job.id)


def estimate(price: PriceConfig, ask: Ask) -> int:
    return images.estimate(price, ask) if isinstance(ask, ImageAsk) else videos.estimate(price, ask)


def cost(job: Job, outcome: Finished, delivered: int) -> int:
    """The charge for `delivered` outputs at the price frozen into the job."""
    price, ask = images.thaw_price(job.price), ask_of(job)
    if isinstance(ask, ImageAsk):
        return images.cost(price, ask, delivered, outcome.usage)
    return videos.cost(price, ask, delivered, outcome.seconds)
