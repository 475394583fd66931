"""Pricing: exact integer math, rounding up, and estimates that bound the exact cost."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from smarthub_mcp.billing import pricing
from smarthub_mcp.billing.pricing import Pricing
from smarthub_mcp.config import PriceConfig, load_config
from smarthub_mcp.credits import MICRO
from smarthub_mcp.errors import InvalidRequest, UnknownModel

GPT = PriceConfig(input_per_million="0.15", output_per_million="0.6", markup_percent=20)  # written in credits


def test_chat_cost_is_exact_and_rounds_up_once():
    # 1,000 in + 500 out at 0.15/0.6 per million = 0.00045 credits = 450 micro, +20% = 540
    assert pricing.chat_cost(GPT, 1000, 500) == 540
    # 1 token in: 0.15 micro, +20% = 0.18 -> rounds up to 1
    assert pricing.chat_cost(GPT, 1, 0) == 1
    assert pricing.chat_cost(GPT, 0, 0) == 0
    floor = PriceConfig(input_per_million=1, per_call_minimum="0.0001")
    assert pricing.chat_cost(floor, 10, 0) == 100 and pricing.chat_cost(floor, 1000, 0) == 1000


def test_images_and_video_by_size_and_mode():
    image = PriceConfig(per_image={"1024x1024": "0.04", "*": "0.06"}, markup_percent=10)
    assert pricing.image_cost(image, "1024x1024", 2) == 88_000
    assert pricing.image_cost(image, "2048x2048", 1) == 66_000
    video = PriceConfig(per_second={"std": "0.05", "pro": "0.12"})
    assert pricing.video_cost(video, "pro", pricing.whole_seconds(5.2)) == 720_000
    with pytest.raises(InvalidRequest):
        pricing.video_cost(video, "ultra", 5)
    with pytest.raises(InvalidRequest):
        pricing.image_cost(image, "1024x1024", -1)


def test_prices_come_from_the_configured_models():
    prices = Pricing(load_config(env={}).settings.models)
    assert prices.chat_cost("demo-chat", 1_000_000, 0) == MICRO
    assert prices.chat_estimate("demo-chat", 10) == prices.chat_cost("demo-chat", 10, 4096)
    with pytest.raises(UnknownModel):
        prices.chat_cost("nope", 1, 1)


prices = st.builds(
    PriceConfig.model_construct,  # micro-credits already
    input_per_million=st.integers(0, 100 * MICRO),
    output_per_million=st.integers(0, 100 * MICRO),
    per_call_minimum=st.integers(0, MICRO),
    per_image=st.just({"*": 40_000}),
    per_second=st.just({"*": 50_000}),
    markup_percent=st.integers(0, 1000),
)
counts = st.integers(0, 2_000_000)


@given(price=prices, used_in=counts, used_out=counts, extra_in=counts, extra_out=counts)
def test_a_chat_estimate_bounds_the_exact_cost(price, used_in, used_out, extra_in, extra_out):
    exact = pricing.chat_cost(price, used_in, used_out)
    assert pricing.chat_estimate(price, used_in + extra_in, used_out + extra_out) >= exact >= 0
    assert exact >= price.per_call_minimum


@given(price=prices, used=st.integers(0, 100), extra=st.integers(0, 100))
def test_image_and_video_estimates_bound_the_exact_cost(price, used, extra):
    assert pricing.image_estimate(price, "any", used + extra) >= pricing.image_cost(price, "any", used)
    assert pricing.video_estimate(price, "any", used + extra) >= pricing.video_cost(price, "any", used)
