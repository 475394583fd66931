"""Tool tests run with credit packages and the loopback fake Stripe configured."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import pytest

from smarthub_mcp.config import AppConfig
from tests.billing.conftest import PACKAGES_TOML, STRIPE_KEY, WEBHOOK_SECRET
from tests.fakes.stripe_api import FakeStripe


@pytest.fixture
async def fake_stripe() -> AsyncIterator[FakeStripe]:
    async with FakeStripe(api_key=STRIPE_KEY) as fake:
        yield fake


@pytest.fixture
def config(make_config: Callable[..., AppConfig], fake_stripe: FakeStripe) -> AppConfig:
    return make_config(
        toml=PACKAGES_TOML,
        STRIPE_API_KEY=STRIPE_KEY,
        STRIPE_WEBHOOK_SECRET=WEBHOOK_SECRET,
        SMARTHUB_PAYMENTS__STRIPE_API_BASE=fake_stripe.url,
    )
