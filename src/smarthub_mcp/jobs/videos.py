"""Video jobs as pure functions: which duration, aspect ratio and mode a request means, what it may
cost, what it costs.

Prices are per second by mode (`price.per_second`), frozen into the job at submit. A request
without a duration is priced for the model's default duration (the first of `durations`), which
is what the provider will make. The charge is the price of the seconds the provider reports making
(rounded up to the whole second), never more than were held; nothing when nothing was delivered.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from smarthub_mcp.billing.pricing import video_cost, whole_seconds
from smarthub_mcp.config import ModelConfig, PriceConfig
from smarthub_mcp.errors import InvalidRequest
from smarthub_mcp.providers.media import VideoRequest

_RATIO_RE = re.compile(r"^[1-9][0-9]?:[1-9][0-9]?$")
DEFAULT_DURATIONS = (5,)
DEFAULT_RATIOS = ("16:9",)


@dataclass(frozen=True, slots=True)
class VideoAsk:
    """A validated generate_video request: what goes into the job row."""

    prompt: str
    duration: int
    aspect_ratio: str
    mode: str
    start_image_url: str | None = None
    negative_prompt: str | None = None
    seed: int | None = None

    def as_json(self) -> dict[str, Any]:
        return {"prompt": self.prompt, "duration": self.duration, "aspect_ratio": self.aspect_ratio,
                "mode": self.mode, "start_image_url": self.start_image_url,
                "negative_prompt": self.negative_prompt, "seed": self.seed}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> VideoAsk:
        return cls(data["prompt"], int(data["duration"]), data["aspect_ratio"], data["mode"],
                   data.get("start_image_url"), data.get("negative_prompt"), data.get("seed"))

    def provider_request(self, job_id: str) -> VideoRequest:
        return VideoRequest(prompt=self.prompt, duration_seconds=self.duration, aspect_ratio=self.aspect_ratio,
                            mode=self.mode, start_image_url=self.start_image_url,
                            negative_prompt=self.negative_prompt, seed=self.seed, external_id=job_id)


def modes(price: PriceConfig) -> list[str]:
    return [m for m in price.per_second if m != "*"]


def resolve(name: str, model: ModelConfig, *, duration: int | None, aspect_ratio: str | None,
            mode: str | None) -> tuple[int, str, str]:
    """(duration, aspect ratio, mode) for a request: each the caller's if the model offers it,
    else the model's default."""
    offered_modes = modes(model.price)
    if not offered_modes and "*" not in model.price.per_second:
        raise InvalidRequest(f"model '{name}' has no video prices configured", details={"model": name})
    durations = model.durations or list(DEFAULT_DURATIONS)
    if duration is None:
        duration = durations[0]
    elif duration not in durations:
        raise InvalidRequest(f"duration {duration} s is not offered by model '{name}'",
                             details={"field": "duration", "offered": durations})
    ratios = model.aspect_ratios or list(DEFAULT_RATIOS)
    if aspect_ratio is None:
        aspect_ratio = ratios[0]
    elif not _RATIO_RE.match(aspect_ratio) or aspect_ratio not in ratios:
        raise InvalidRequest(f"aspect ratio {aspect_ratio!r} is not offered by model '{name}'",
                             details={"field": "aspect_ratio", "offered": ratios})
    if mode is None:
        mode = offered_modes[0] if offered_modes else "std"
    elif mode not in offered_modes and "*" not in model.price.per_second:
        raise InvalidRequest(f"mode {mode!r} is not offered by model '{name}'",
                             details={"field": "mode", "offered": offered_modes})
    return duration, aspect_ratio, mode


def estimate(price: PriceConfig, ask: VideoAsk) -> int:
    return video_cost(price, ask.mode, ask.duration)


def cost(price: PriceConfig, ask: VideoAsk, delivered: int, seconds: float | None) -> int:
    """The seconds made (as reported, else as asked), at most the seconds held for."""
    if delivered <= 0:
        return 0
    made = ask.duration if seconds is None else min(ask.duration, whole_seconds(seconds))
    return video_cost(price, ask.mode, max(1, made))
