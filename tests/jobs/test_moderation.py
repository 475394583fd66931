"""Prompts checked before any credit moves, on both databases: the block list, OpenAI's moderation
endpoint (the official SDK against the loopback fake: flagged, clean, slow, down), fail closed for
images and video and open for chat, each refusal recorded with its category and nothing held."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from smarthub_mcp.compose import build_services
from smarthub_mcp.moderation.checks import compile_block_list, refusing_category
from smarthub_mcp.moderation.errors import ModerationUnavailable, PromptRefused
from smarthub_mcp.tools import chat as chat_tools
from smarthub_mcp.tools import images as image_tools
from smarthub_mcp.tools import videos as video_tools
from smarthub_mcp.tools.registry import invoke
from tests.fakes.openai_server import FakeOpenAI
from tests.jobs.conftest import customer

TOML = """
[providers.demo]
type = "demo"

[providers.demo-image]
type = "demo-image"

[providers.demo-video]
type = "demo-video"

[providers.openai]
type = "openai"
api_key_env = "OPENAI_API_KEY"
base_url = "{url}/v1"

[moderation]
openai_provider = "openai"
timeout_seconds = 1
chat = {chat}
block_list = {{ weapons = ["pipe bomb", "/nerve\\\\s+agent/"] }}
thresholds = {{ violence = 0.5 }}
"""


@pytest.fixture
async def moderated(make_config, db):
    async with FakeOpenAI() as fake:
        services = build_services(make_config(TOML.format(url=fake.url, chat="true"), OPENAI_API_KEY=fake.api_key,
                                              SMARTHUB_DATABASE__POOL_SIZE="4"))
        try:
            yield services, fake
        finally:
            await services.moderator.aclose()
            await services.jobs.aclose()
            await services.router.aclose()
            await services.db.close()


async def events(services) -> list[tuple]:
    async with services.db.read() as conn:
        return [tuple(r) for r in await conn.execute(text(
            "SELECT kind, decision, source, category FROM moderation_events ORDER BY id"))]


async def money(services, user_id: str) -> tuple[int, int]:
    bal = await services.ledger.balance(user_id)
    return bal.balance, bal.held


async def image(services, principal, prompt: str):
    return await invoke(image_tools.generate_image, services, principal, {"prompt": prompt, "model": "demo-image"},
                        request_id="t")


async def test_refused_prompts_move_nothing_and_say_why(moderated):
    services, fake = moderated
    alice = await customer(services)
    before = await money(services, alice.user_id)
    with pytest.raises(PromptRefused) as blocked:
        await image(services, alice, "how to build a Pipe Bomb")
    assert blocked.value.details == {"category": "weapons", "source": "block_list"}
    with pytest.raises(PromptRefused):
        await image(services, alice, "nerve   agent recipe")
    fake.moderation_answers = [("flagged", "violence", 0.9)]
    with pytest.raises(PromptRefused) as flagged:
        await invoke(video_tools.generate_video, services, alice, {"prompt": "a brawl", "model": "demo-video"},
                     request_id="t")
    assert flagged.value.details == {"category": "violence", "source": "moderation"}
    fake.moderation_answers = [("flagged", "violence", 0.3)]  # flagged by the endpoint, under our threshold
    passed = await image(services, alice, "a castle siege, painted")
    assert passed.status == "succeeded"
    assert await money(services, alice.user_id) == (before[0] - 10_000, 0)  # only the one that passed
    assert await events(services) == [("image", "refused", "block_list", "weapons"),
                                      ("image", "refused", "block_list", "weapons"),
                                      ("video", "refused", "moderation", "violence")]
    # the block list answers first; the image that passed was checked too, as an image
    asked = [r["body"] for r in fake.requests if r["path"] == "/v1/moderations"]
    assert len(asked) == 3 and asked[2]["input"][0]["type"] == "image_url"
    assert asked[2]["input"][0]["image_url"]["url"].startswith("data:image/")


async def test_when_the_endpoint_is_down_media_fails_closed_and_chat_open(moderated):
    services, fake = moderated
    alice = await customer(services)
    before = await money(services, alice.user_id)
    for answer in ("down", ("slow", 3)):
        fake.moderation_answers = [answer]
        with pytest.raises(ModerationUnavailable):
            await image(services, alice, "a quiet lake")
    assert await money(services, alice.user_id) == before
    fake.moderation_answers = ["down"]
    said = await invoke(chat_tools.chat, services, alice, {"prompt": "hello", "model": "demo-chat"}, request_id="t")
    assert said.text
    assert await events(services) == [("image", "refused", "unavailable", None),
                                      ("image", "refused", "unavailable", None),
                                      ("chat", "unchecked", "unavailable", None)]
    assert services.moderator.describe() == {"moderation": "block list + omni-moderation-latest",
                                             "moderation_when_down": "media fail closed, chat fail open"}


async def test_chat_is_checked_only_when_configured(make_config, db):
    async with FakeOpenAI() as fake:
        services = build_services(make_config(TOML.format(url=fake.url, chat="false"), OPENAI_API_KEY=fake.api_key,
                                              SMARTHUB_DATABASE__POOL_SIZE="4"))
        alice = await customer(services)
        said = await invoke(chat_tools.chat, services, alice, {"prompt": "a pipe bomb joke", "model": "demo-chat"},
                            request_id="t")
        assert said.text and not [r for r in fake.requests if r["path"] == "/v1/moderations"]
        await services.moderator.aclose()
        await services.router.aclose()
        await services.db.close()


def test_block_list_words_match_whole_words_in_any_case():
    rules = compile_block_list({"drugs": ["meth"], "custom": ["/\\bfoo\\d+/"]})
    hits = [c for c, p in rules for t in ("Method acting", "METH lab", "foo12") if p.search(t)]
    assert hits == ["drugs", "custom"]


def test_thresholds_override_the_endpoints_flags():
    assert refusing_category({"hate": 0.9}, {"hate": False}, {"hate": 0.8}) == "hate"
    assert refusing_category({"hate": 0.7}, {"hate": True}, {"hate": 0.8}) is None
    assert refusing_category({"sexual": 0.1}, {"sexual": True}, {}) == "sexual"
