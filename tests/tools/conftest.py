"""Tool tests run with credit packages and the loopback fake Stripe configured; `fallback_services`
adds a model `smart` whose first route (a loopback fake OpenAI) a test can make fail."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from smarthub_mcp.compose import build_services
from smarthub_mcp.config import AppConfig
from smarthub_mcp.services import Services
from tests.billing.conftest import PACKAGES_TOML, STRIPE_KEY, WEBHOOK_SECRET
from tests.fakes.openai_server import FakeOpenAI
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


OPENAI_KEY = "sk-fake-provider-secret-123"

FALLBACK_TOML = """
[providers.demo]
type = "demo"

[providers.oai]
type = "openai"
base_url = "{openai}/v1"
api_key_env = "FAKE_OPENAI_KEY"

[providers.nokey]  # its key is never set: models routed only here are unavailable
type = "openai"
base_url = "{openai}/v1"
api_key_env = "SMARTHUB_TEST_NEVER_SET_KEY"

[models.offline]
kind = "chat"
routes = [{{ provider = "nokey", upstream = "gpt-fake" }}]
price = {{ input_per_million = 2, output_per_million = 8 }}

[models.demo-chat]
kind = "chat"
routes = [{{ provider = "demo", upstream = "demo-chat-1" }}]
price = {{ input_per_million = 2, output_per_million = 8 }}

[models.smart]
kind = "chat"
max_output_tokens = 256
routes = [
  {{ provider = "oai", upstream = "gpt-fake", priority = 0 }},
  {{ provider = "demo", upstream = "demo-chat-1", priority = 1 }},
]
price = {{ input_per_million = 2, output_per_million = 8 }}
"""


@pytest.fixture
async def fake_openai() -> AsyncIterator[FakeOpenAI]:
    async with FakeOpenAI(api_key=OPENAI_KEY) as fake:
        yield fake


@pytest.fixture
def fallback_config_path(tmp_path: Path, fake_openai: FakeOpenAI) -> Path:
    path = tmp_path / "fallback.toml"  # also handed to stdio subprocesses (SMARTHUB_CONFIG)
    path.write_text(FALLBACK_TOML.format(openai=fake_openai.url), encoding="utf-8")
    return path


@pytest.fixture
def fallback_config(make_config: Callable[..., AppConfig], fallback_config_path: Path) -> AppConfig:
    return make_config(toml=fallback_config_path.read_text(), FAKE_OPENAI_KEY=OPENAI_KEY,
                       SMARTHUB_AUTH__SIGNUP_GRANT="10")


@pytest.fixture
async def fallback_services(fallback_config: AppConfig, db: object) -> AsyncIterator[Services]:
    services = build_services(fallback_config)
    yield services
    await services.router.aclose()
    await services.db.close()


