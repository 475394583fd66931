"""Image jobs as pure functions: which size a request means, what it may cost, what it costs.

Sizes are the model's priced sizes (`price.per_image` keys); a `"*"` key prices any size, within
`MIN_SIDE`..`MAX_SIDE` pixels a side. An aspect ratio picks the priced size closest to it. The
estimate is `count` images at the size's price; the charge is the images delivered at that price,
or, for a model with token prices whose provider reports its usage (OpenAI Images), the reported
tokens at those prices, never above the delivered images' price (only delivered images are paid).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from smarthub_mcp.billing.pricing import chat_cost, image_cost
from smarthub_mcp.config import ModelConfig, PriceConfig
from smarthub_mcp.errors import InvalidRequest
from smarthub_mcp.providers.base import Usage as ProviderUsage
from smarthub_mcp.providers.media import ImageRequest

MIN_SIDE, MAX_SIDE = 64, 4096
_SIZE_RE = re.compile(r"^([1-9][0-9]{1,4})x([1-9][0-9]{1,4})$")
_RATIO_RE = re.compile(r"^([1-9][0-9]?):([1-9][0-9]?)$")
DEFAULT_WILDCARD_SIZE = "1024x1024"


@dataclass(frozen=True, slots=True)
class ImageAsk:
    """A validated generate_image request: what goes into the job row."""

    prompt: str
    size: str
    count: int
    negative_prompt: str | None = None
    seed: int | None = None

    def as_json(self) -> dict[str, Any]:
        return {"prompt": self.prompt, "size": self.size, "count": self.count,
                "negative_prompt": self.negative_prompt, "seed": self.seed}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ImageAsk:
        return cls(data["prompt"], data["size"], int(data["count"]), data.get("negative_prompt"), data.get("seed"))

    def provider_request(self) -> ImageRequest:
        return ImageRequest(prompt=self.prompt, size=self.size, count=self.count,
                            negative_prompt=self.negative_prompt, seed=self.seed)


def freeze_price(price: PriceConfig) -> str:
    """The model's price as stored on a job: micro-credit integers, exactly as configured now."""
    return price.model_dump_json()


def thaw_price(frozen: str) -> PriceConfig:
    """The price a job was created at. Built without validation on purpose: the stored figures are
    already micro-credits, and validating would read them as credits again."""
    return PriceConfig.model_construct(**json.loads(frozen))


def priced_sizes(price: PriceConfig) -> list[str]:
    return [size for size in price.per_image if size != "*"]


def _parse(size: str) -> tuple[int, int] | None:
    m = _SIZE_RE.match(size)
    return (int(m.group(1)), int(m.group(2))) if m else None


def resolve_size(name: str, model: ModelConfig, size: str | None, aspect_ratio: str | None) -> str:
    """The size to generate: `size` if the model prices it, else the priced size nearest
    `aspect_ratio`, else the model's first priced size."""
    sizes, wildcard = priced_sizes(model.price), "*" in model.price.per_image
    if not sizes and not wildcard:
        raise InvalidRequest(f"model '{name}' has no image prices configured", details={"model": name})
    if size is not None:
        if size in sizes:
            return size
        dims = _parse(size)
        if wildcard and dims and all(MIN_SIDE <= d <= MAX_SIDE for d in dims):
            return size
        raise InvalidRequest(f"size {size!r} is not offered by model '{name}'",
                             details={"field": "size", "offered": sizes or [f"WxH, {MIN_SIDE}..{MAX_SIDE}"]})
    if aspect_ratio is not None:
        m = _RATIO_RE.match(aspect_ratio)
        if not m:
            raise InvalidRequest("aspect_ratio is written like 16:9", details={"field": "aspect_ratio"})
        want = int(m.group(1)) / int(m.group(2))
        if not sizes:  # any size: 1024 pixels on the long side
            w, h = (1024, round(1024 / want)) if want >= 1 else (round(1024 * want), 1024)
            return f"{max(MIN_SIDE, w // 8 * 8)}x{max(MIN_SIDE, h // 8 * 8)}"
        return min(sizes, key=lambda s: abs(_ratio(s) - want))
    return sizes[0] if sizes else DEFAULT_WILDCARD_SIZE


def _ratio(size: str) -> float:
    dims = _parse(size)
    return dims[0] / dims[1] if dims else 1.0


def check_count(count: int, most: int) -> int:
    if not 1 <= count <= most:
        raise InvalidRequest(f"count must be between 1 and {most}", details={"field": "count"})
    return count


def estimate(price: PriceConfig, ask: ImageAsk) -> int:
    """What the job holds: every image asked for, at the frozen price."""
    return image_cost(price, ask.size, ask.count)


def cost(price: PriceConfig, ask: ImageAsk, delivered: int, usage: ProviderUsage | None) -> int:
    """What the job is charged for `delivered` images (never above their price at the size)."""
    if delivered <= 0:
        return 0
    by_image = image_cost(price, ask.size, delivered)
    if usage is not None and (price.input_per_million or price.output_per_million):
        return min(by_image, chat_cost(price, usage.input_tokens, usage.output_tokens))
    return by_image


def split(total: int, parts: int) -> list[int]:
    """`total` micro-credits over `parts` items, the remainder on the first ones (sums exactly)."""
    if parts <= 0:
        return []
    share, rest = divmod(total, parts)
    return [share + (1 if i < rest else 0) for i in range(parts)]
