"""The media protocol image (and, next, video) adapters speak, and the values that cross it.

Media generation is a job, not a call: many providers accept a request and answer later. So an
adapter has two verbs and every provider fits them:

    outcome = await provider.submit(request)      # -> Finished (synchronous APIs) or Pending(upstream_id)
    outcome = await provider.poll(pending, request)  # -> Finished or Pending, for queue APIs (fal, kie)
    await provider.cancel(pending)                # best effort; False when the provider cannot

`submit` is called at most once per job: adapters never retry a submit (an unknown outcome must not
become two billed jobs) and turn every failure into one `ProviderError`, as chat adapters do.
`Finished.outputs` are the images actually produced; an output may carry its bytes or a URL the
provider serves it at (the jobs engine copies it into our storage before it counts as delivered).
`flagged` counts outputs the provider flagged under its content policy: none is delivered or
charged. Those it still returned (fal's `has_nsfw_concepts`, Stability's CONTENT_FILTERED) are in
`held`, each with its `flag`: the jobs engine stores them for an admin's review (moderation), and an
approved one is delivered and charged then. `usage` is the provider's own report (OpenAI Images
bills by tokens), used to price the job when the model has token prices.

What a raised `ProviderError` means depends on the verb:
- `submit`: retryable = nothing was started upstream, the router may try the next route;
  `ProviderOutcomeUnknown` (`provider_outcome_unknown`, not retryable) = the request was sent and its
  answer lost, so the job may exist and bill: keep the hold and reconcile, never resubmit or refund;
  any other non-retryable error = refused, nothing started.
- `poll`: retryable = no verdict (a timeout, a 5xx, even a 401 or 404 on the status call), poll again
  later; non-retryable = the provider's verdict that the job failed and delivers nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Protocol, runtime_checkable

from smarthub_mcp.providers.base import Usage


@dataclass(frozen=True, slots=True)
class ImageRequest:
    """What a caller asks for. `size` is "WxH" (the model's configured sizes); `upstream` is set by
    the router to the route's upstream model name."""

    prompt: str
    size: str
    count: int = 1
    negative_prompt: str | None = None
    seed: int | None = None
    upstream: str = ""
    webhook_url: str | None = None
    """Where the provider may post the result (adapters with `parse_webhook` pass it on)."""

    def for_upstream(self, upstream: str) -> ImageRequest:
        return replace(self, upstream=upstream)

    def with_webhook(self, url: str | None) -> ImageRequest:
        return replace(self, webhook_url=url)

    @property
    def dimensions(self) -> tuple[int, int]:
        width, _, height = self.size.partition("x")
        return int(width), int(height)


@dataclass(frozen=True, slots=True)
class VideoRequest:
    """A video to make. `duration_seconds` is what will be priced (the engine fills in the model's
    default when the caller gave none); `mode` is the model's quality tier ("std", "pro"...);
    `start_image_url` makes it image-to-video; `external_id` is our job id, for providers that take
    one (Kling's `external_task_id`) so a lost answer can be looked up by it."""

    prompt: str
    duration_seconds: int
    aspect_ratio: str = "16:9"
    mode: str = "std"
    start_image_url: str | None = None
    negative_prompt: str | None = None
    seed: int | None = None
    external_id: str | None = None
    upstream: str = ""
    webhook_url: str | None = None

    def for_upstream(self, upstream: str) -> VideoRequest:
        return replace(self, upstream=upstream)

    def with_webhook(self, url: str | None) -> VideoRequest:
        return replace(self, webhook_url=url)


MediaRequest = ImageRequest | VideoRequest


@dataclass(frozen=True, slots=True)
class MediaOutput:
    """One produced file: its bytes, or the provider's URL for it (fetched by the jobs engine)."""

    content_type: str
    data: bytes | None = None
    url: str | None = None
    width: int | None = None
    height: int | None = None
    flag: str | None = None
    """The provider's content flag on this output ("nsfw", "content_filtered"): held for review."""


@dataclass(frozen=True, slots=True)
class Finished:
    """`failed` counts the images asked for that are neither delivered nor flagged (a provider that
    makes one image per request can deliver 3 of 4, one having failed): not charged either."""

    outputs: tuple[MediaOutput, ...]
    flagged: int = 0
    usage: Usage | None = None
    seconds: float | None = None
    """A video's length as the provider reports it (what a per-second price is charged on)."""
    provider_charge: int | None = None
    """What the provider says it billed, in its own units (Runway's credits), when it says."""
    failed: int = 0
    held: tuple[MediaOutput, ...] = ()
    """Flagged outputs the provider returned anyway (counted in `flagged` too): held for review."""


@dataclass(frozen=True, slots=True)
class Pending:
    """Accepted upstream, not done yet. `upstream_id` is all a later poll or cancel needs, so any
    replica can take the job over after a restart; `state` is extra routing data (a status URL)."""

    upstream_id: str
    state: dict[str, str] = field(default_factory=dict)


Outcome = Finished | Pending


@runtime_checkable
class MediaProvider(Protocol):
    """An upstream that makes images (or videos). `name` is the provider's config key."""

    name: str

    async def submit(self, request: MediaRequest) -> Outcome: ...

    async def poll(self, pending: Pending, request: MediaRequest) -> Outcome: ...

    async def cancel(self, pending: Pending) -> bool: ...

    async def aclose(self) -> None: ...


@runtime_checkable
class WebhookParser(Protocol):
    """An adapter whose provider can post a job's result (fal's `fal_webhook`). `parse_webhook`
    reads a posted body into `(upstream_id, outcome)`; a failed job is a `ProviderError`. The
    engine passes `request.webhook_url` at submit only to adapters that have this method."""

    def parse_webhook(self, body: bytes, headers: dict[str, str]) -> tuple[str, Outcome | Exception]: ...
