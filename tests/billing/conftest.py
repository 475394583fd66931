"""Fixtures for payments and promo tests: the fake Stripe, a config that points at it, signed events."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
import stripe

from smarthub_mcp.config import AppConfig
from tests.fakes.stripe_api import FakeStripe

WEBHOOK_SECRET = "whsec_test_" + "s" * 24
STRIPE_KEY = "sk_test_fake"
PACKAGES_TOML = """
[[packages]]
id = "starter"
name = "100 credits"
credits = 100
price_minor = 1000
currency = "usd"

[[packages]]
id = "pro"
name = "1,200 credits"
credits = 1200
price_minor = 10000
currency = "eur"
"""


@pytest.fixture
async def fake_stripe() -> AsyncIterator[FakeStripe]:
    async with FakeStripe(api_key=STRIPE_KEY) as fake:
        yield fake


@pytest.fixture
def config(make_config: Callable[..., AppConfig], fake_stripe: FakeStripe) -> AppConfig:
    """Overrides the suite's config: packages, Stripe keys, the SDK pointed at the fake."""
    return make_config(
        toml=PACKAGES_TOML,
        STRIPE_API_KEY=STRIPE_KEY,
        STRIPE_WEBHOOK_SECRET=WEBHOOK_SECRET,
        SMARTHUB_PAYMENTS__STRIPE_API_BASE=fake_stripe.url,
    )


def signed(payload: str, *, secret: str = WEBHOOK_SECRET, timestamp: int | None = None) -> dict[str, str]:
    """Headers Stripe would send: signed with the SDK's own signer."""
    header = stripe.WebhookSignature.generate_signature_header(payload, secret, timestamp=timestamp)
    return {"Stripe-Signature": header, "Content-Type": "application/json"}


async def deliver(client: httpx.AsyncClient, payload: str, **kw: Any) -> httpx.Response:
    return await client.post("/api/v1/payments/stripe/webhook", content=payload.encode(), headers=signed(payload, **kw))
