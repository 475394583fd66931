"""generate_image over the synchronous adapters (OpenAI Images, Stability) against their loopback
fakes, on both databases: exact charges for what was delivered (by tokens where OpenAI reports
them), one request per image, and a generate whose answer never came kept held."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from smarthub_mcp.compose import build_services
from smarthub_mcp.config import AppConfig
from smarthub_mcp.errors import SmartHubError
from smarthub_mcp.media.local import LocalStorage
from smarthub_mcp.media.signing import UrlSigner
from smarthub_mcp.services import Services
from smarthub_mcp.tools import images as image_tools
from smarthub_mcp.tools.registry import invoke
from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.script import Fail, Hang, ImagesReply, Shot
from tests.fakes.stability_server import FakeStability
from tests.jobs.conftest import customer

CORE_PRICE = 30_000  # 0.03 credits per image
GPT_IMAGE_PRICE = 200_000  # 0.2 credits per image: the cap, and what is held
TOML = """
[providers.openai]
type = "openai"
api_key_env = "OPENAI_API_KEY"
base_url = "{openai}/v1"
media_timeout_seconds = 10

[providers.openai-impatient]
type = "openai"
api_key_env = "OPENAI_API_KEY"
base_url = "{openai}/v1"
media_timeout_seconds = 0.5

[providers.stability]
type = "stability"
api_key_env = "STABILITY_API_KEY"
base_url = "{stability}"

[models.gpt-image]
kind = "image"
routes = [{{ provider = "openai", upstream = "gpt-image-1-mini" }}]
price = {{ input_per_million = 2, output_per_million = 8, per_image = {{ "64x64" = 0.2 }} }}

[models.gpt-image-impatient]
kind = "image"
routes = [{{ provider = "openai-impatient", upstream = "gpt-image-1-mini" }}]
price = {{ input_per_million = 2, output_per_million = 8, per_image = {{ "64x64" = 0.2 }} }}

[models.core]
kind = "image"
routes = [{{ provider = "stability", upstream = "core" }}]
price = {{ per_image = {{ "1024x1024" = 0.03 }} }}
"""


@pytest.fixture
async def fakes() -> AsyncIterator[tuple[FakeOpenAI, FakeStability]]:
    async with FakeOpenAI() as openai, FakeStability() as stability:
        yield openai, stability


@pytest.fixture
async def services(make_config: Callable[..., AppConfig], db: object, tmp_path: Path,
                   fakes: tuple[FakeOpenAI, FakeStability]) -> AsyncIterator[Services]:
    openai, stability = fakes
    # Small pools: PostgreSQL's 100 connections are shared by every test session on the machine.
    config = make_config(toml=TOML.format(openai=openai.url, stability=stability.url), SMARTHUB_DATABASE__POOL_SIZE="4",
                         OPENAI_API_KEY=openai.api_key, STABILITY_API_KEY=stability.api_key)
    storage = LocalStorage(tmp_path / "media", signer=UrlSigner(lambda: b"k" * 32), public_base_url="http://testserver")
    services = build_services(config, storage=storage)
    yield services
    await services.router.aclose()


async def generate(services: Services, principal, **arguments):
    return await invoke(image_tools.generate_image, services, principal, arguments, request_id="test")


async def money(services: Services, user_id: str) -> tuple[int, int]:
    bal = await services.ledger.balance(user_id)
    return bal.balance, bal.held


async def test_stability_two_of_four_delivered_charges_two(services, fakes) -> None:
    _, stability = fakes
    stability.script(Shot(), Shot(finish="CONTENT_FILTERED"), Shot(), Fail(500))
    alice = await customer(services)
    before, _ = await money(services, alice.user_id)
    out = await generate(services, alice, prompt="a red fox", model="core", count=4, seed=11)
    assert (out.status, out.delivered, out.flagged, out.held_for_review) == ("succeeded", 2, 1, 1)
    assert out.credits_charged == "0.060000"
    # the filtered (blurred) image is held for review, its price held
    assert await money(services, alice.user_id) == (before - 2 * CORE_PRICE, CORE_PRICE)
    assert len(stability.requests) == 4  # one request per image, none repeated
    assert all(m.content_type == "image/png" for m in out.media)
    assert await services.ledger.check() == []


async def test_gpt_image_is_charged_from_the_reported_tokens(services, fakes) -> None:
    openai, _ = fakes
    openai.script(ImagesReply(input_tokens=10, output_tokens=272))
    alice = await customer(services)
    before, _ = await money(services, alice.user_id)
    out = await generate(services, alice, prompt="a lighthouse", model="gpt-image", size="64x64", count=2)
    tokens_cost = (10 * 2_000_000 + 272 * 8_000_000) // 1_000_000  # 2,196 micro-credits, below 2 x 0.2
    assert (out.status, out.delivered) == ("succeeded", 2)
    assert await money(services, alice.user_id) == (before - tokens_cost, 0)
    assert out.credits_charged == "0.002196"
    [sent] = openai.requests
    assert sent["body"]["n"] == 2 and sent["body"]["size"] == "64x64"
    assert await services.ledger.check() == []


async def test_a_refused_prompt_costs_nothing(services, fakes) -> None:
    openai, _ = fakes
    openai.script(Fail(400, "image_generation_user_error", "moderation_blocked"))
    alice = await customer(services)
    before, _ = await money(services, alice.user_id)
    with pytest.raises(SmartHubError) as info:
        await generate(services, alice, prompt="something refused", model="gpt-image", size="64x64")
    assert "fake failure" not in info.value.message
    assert await money(services, alice.user_id) == (before, 0)
    assert await services.ledger.check() == []


async def test_a_generate_whose_answer_never_came_keeps_the_credits_held(services, fakes) -> None:
    openai, _ = fakes
    openai.script(Hang())
    services.settings.jobs.wait_seconds = 0
    alice = await customer(services)
    before, _ = await money(services, alice.user_id)
    out = await generate(services, alice, prompt="a kite", model="gpt-image-impatient", size="64x64", count=2)
    assert out.status == "unknown" and out.credits_charged is None
    assert await money(services, alice.user_id) == (before, 2 * GPT_IMAGE_PRICE)  # held until reconciled
    assert len(openai.requests) == 1
    assert await services.ledger.check() == []
