"""A live dashboard for the browser journeys: the app under uvicorn with its public URL on its own
port, mail to a real SMTP sink, Stripe on the loopback fake, the test packages for sale."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from smarthub_mcp.app import build_app
from smarthub_mcp.compose import build_services
from smarthub_mcp.config import AppConfig
from tests.billing.conftest import PACKAGES_TOML, STRIPE_KEY, WEBHOOK_SECRET
from tests.conftest import LiveServer, free_port
from tests.fakes.stripe_api import FakeStripe
from tests.identity.helpers import Sink


@pytest.fixture
def config(make_config: Callable[..., AppConfig]) -> AppConfig:
    """Small pools: PostgreSQL's 100 connections are shared by every test session on the machine."""
    return make_config(SMARTHUB_DATABASE__POOL_SIZE="4")


@pytest.fixture
async def site(make_config: Callable[..., AppConfig], db: Any) -> AsyncIterator[Any]:
    sink = Sink()
    controller = Controller(sink, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        async with FakeStripe(api_key=STRIPE_KEY) as stripe:
            port = free_port()
            services = build_services(make_config(
                toml=PACKAGES_TOML, STRIPE_API_KEY=STRIPE_KEY, STRIPE_WEBHOOK_SECRET=WEBHOOK_SECRET,
                SMARTHUB_PAYMENTS__STRIPE_API_BASE=stripe.url, SMARTHUB_SMTP_HOST="127.0.0.1",
                SMARTHUB_SMTP_PORT=str(controller.port), SMARTHUB_SERVER__PUBLIC_BASE_URL=f"http://127.0.0.1:{port}",
                SMARTHUB_DATABASE__POOL_SIZE="4",
            ))
            async with LiveServer(build_app(services=services), port=port) as server:
                server.services, server.sink, server.stripe = services, sink, stripe  # type: ignore[attr-defined]
                yield server
    finally:
        controller.stop()
