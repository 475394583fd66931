"""Prices from `config.toml`, as pure functions over integer micro-credits.

Each kind of model has two functions with the same formula: an upper-bound *estimate* before the
call (from the largest input and output the call could have) and the *exact* cost afterwards
(from the usage the provider reported). Because every formula is monotone in its inputs, an
estimate is never below the exact cost of the same call.

Rounding: one ceiling, at the end, to the whole micro-credit, in the house's favour; markup is
applied inside that ceiling (so there is no double rounding), then the per-call minimum.
"""

from __future__ import annotations

import math

from smarthub_mcp.config import ModelConfig, PriceConfig
from smarthub_mcp.credits import MICRO
from smarthub_mcp.errors import InvalidRequest, unknown_model

_WILDCARD = "*"  # a per_image/per_second key that prices any size or mode not listed


def _ceil_div(numerator: int, denominator: int) -> int:
    return -(-numerator // denominator)


def _finish(price: PriceConfig, numerator: int, denominator: int) -> int:
    """Apply markup and round up once, then the per-call minimum."""
    total = _ceil_div(numerator * (100 + price.markup_percent), denominator * 100)
    return max(total, price.per_call_minimum)


def _count(name: str, value: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise InvalidRequest(f"{name} must be a non-negative whole number")
    return value


def _rate(table: dict[str, int], key: str, what: str) -> int:
    if key in table:
        return table[key]
    if _WILDCARD in table:
        return table[_WILDCARD]
    raise InvalidRequest(f"this model has no price for {what} {key!r}", details={"offered": sorted(table)})


def chat_cost(price: PriceConfig, input_tokens: int, output_tokens: int) -> int:
    """Exact cost of a chat call from the tokens the provider reported."""
    numerator = _count("input_tokens", input_tokens) * price.input_per_million + _count(
        "output_tokens", output_tokens
    ) * price.output_per_million
    return _finish(price, numerator, 1_000_000)


def chat_estimate(price: PriceConfig, max_input_tokens: int, max_output_tokens: int) -> int:
    """Upper bound before the call: the largest prompt and the full output budget."""
    return chat_cost(price, max_input_tokens, max_output_tokens)


def image_cost(price: PriceConfig, size: str, images: int) -> int:
    return _finish(price, _rate(price.per_image, size, "image size") * _count("images", images), 1)


def image_estimate(price: PriceConfig, size: str, images: int) -> int:
    return image_cost(price, size, images)


def video_cost(price: PriceConfig, mode: str, seconds: int) -> int:
    return _finish(price, _rate(price.per_second, mode, "video mode") * _count("seconds", seconds), 1)


def video_estimate(price: PriceConfig, mode: str, max_seconds: int) -> int:
    return video_cost(price, mode, max_seconds)


def whole_seconds(duration: float) -> int:
    """A provider's reported duration, rounded up to the whole second that is priced."""
    return max(0, math.ceil(duration))


def token_upper_bound(text: str) -> int:
    """A cheap, safe ceiling on the tokens of `text` for byte-level BPE tokenizers (every token
    is at least one UTF-8 byte), plus a little for message framing."""
    return len(text.encode("utf-8")) + 8


class Pricing:
    """Prices by public model name, from `settings.models`."""

    def __init__(self, models: dict[str, ModelConfig]) -> None:
        self.models = models

    def price(self, model: str) -> PriceConfig:
        config = self.models.get(model)
        if config is None or not config.enabled:
            raise unknown_model(model, self.models)
        return config.price

    def chat_estimate(self, model: str, max_input_tokens: int, max_output_tokens: int | None = None) -> int:
        cap = self.models[model].max_output_tokens if model in self.models else 0
        return chat_estimate(self.price(model), max_input_tokens, max_output_tokens or cap)

    def chat_cost(self, model: str, input_tokens: int, output_tokens: int) -> int:
        return chat_cost(self.price(model), input_tokens, output_tokens)

    def image_estimate(self, model: str, size: str, images: int = 1) -> int:
        return image_estimate(self.price(model), size, images)

    def image_cost(self, model: str, size: str, images: int = 1) -> int:
        return image_cost(self.price(model), size, images)

    def video_estimate(self, model: str, mode: str, max_seconds: int) -> int:
        return video_estimate(self.price(model), mode, max_seconds)

    def video_cost(self, model: str, mode: str, seconds: int) -> int:
        return video_cost(self.price(model), mode, seconds)


def describe(price: PriceConfig) -> dict[str, str | dict[str, str]]:
    """Prices for people and `list_models`: credits as decimal strings."""
    from smarthub_mcp.billing.money import format_credits

    out: dict[str, str | dict[str, str]] = {}
    if price.input_per_million or price.output_per_million:
        out["input_per_million"] = format_credits(price.input_per_million)
        out["output_per_million"] = format_credits(price.output_per_million)
    if price.per_image:
        out["per_image"] = {k: format_credits(v) for k, v in price.per_image.items()}
    if price.per_second:
        out["per_second"] = {k: format_credits(v) for k, v in price.per_second.items()}
    if price.per_call_minimum:
        out["per_call_minimum"] = format_credits(price.per_call_minimum)
    if price.markup_percent:
        out["markup_percent"] = str(price.markup_percent)
    return out


__all__ = [
    "MICRO",
    "Pricing",
    "chat_cost",
    "chat_estimate",
    "describe",
    "image_cost",
    "image_estimate",
    "token_upper_bound",
    "video_cost",
    "video_estimate",
    "whole_seconds",
]
