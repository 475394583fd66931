"""Our output check and per-user policy, on both databases, against the loopback moderation endpoint
(the official SDK): a generated image the endpoint flags is held for review and not charged (and,
every output held, the job ends `held_for_review` and succeeds once approved); the endpoint down
holds outputs (media fail closed); an exempt user is not checked; a suspended user cannot generate;
a role's tighter threshold applies; a user who keeps tripping the checks is flagged for an admin."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import text

from smarthub_mcp.app import build_app
from smarthub_mcp.compose import build_services
from smarthub_mcp.moderation.checks import thresholds_for
from smarthub_mcp.moderation.errors import GenerationSuspended, PromptRefused
from smarthub_mcp.tools import images as image_tools
from smarthub_mcp.tools import videos as video_tools
from smarthub_mcp.tools.registry import invoke
from tests.factories import bearer, make_user_with_token
from tests.fakes.openai_server import FakeOpenAI
from tests.jobs.conftest import customer

PRICE = 10_000
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
block_list = {{ weapons = ["pipe bomb"] }}
thresholds = {{ violence = 0.5 }}
role_thresholds = {{ user = {{ violence = 0.2 }} }}
repeat_offender_trips = 3
"""


@pytest.fixture
async def checked(make_config, db):
    async with FakeOpenAI() as fake:
        services = build_services(make_config(TOML.format(url=fake.url), OPENAI_API_KEY=fake.api_key,
                                              SMARTHUB_DATABASE__POOL_SIZE="4"))
        transport = httpx.ASGITransport(app=build_app(services=services))
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
            try:
                yield services, fake, client
            finally:
                await services.moderator.aclose()
                await services.jobs.aclose()
                await services.router.aclose()
                await services.db.close()


async def money(services, user_id: str) -> tuple[int, int]:
    bal = await services.ledger.balance(user_id)
    return bal.balance, bal.held


async def image(services, principal, prompt: str, count: int = 1):
    return await invoke(image_tools.generate_image, services, principal,
                        {"prompt": prompt, "model": "demo-image", "count": count}, request_id="t")


def asked(fake) -> int:
    return sum(1 for r in fake.requests if r["path"] == "/v1/moderations")


async def test_an_output_the_check_flags_is_held_and_charged_only_once_approved(checked):
    services, fake, client = checked
    alice = await customer(services)
    before, _ = await money(services, alice.user_id)
    fake.moderation_answers = ["clean", ("flagged", "sexual", 0.97)]  # the prompt passes; its image does not
    out = await image(services, alice, "a beach at noon")
    assert (out.status, out.error_code, out.delivered, out.flagged, out.held_for_review) == (
        "failed", "held_for_review", 0, 1, 1)
    assert out.credits_charged == "0.000000" and out.media == []
    assert await money(services, alice.user_id) == (before, PRICE)

    _, admin = await make_user_with_token(services, role="admin")
    (held,) = (await client.get("/api/v1/admin/moderation", headers=bearer(admin))).json()["items"]
    assert (held["source"], held["category"], held["kind"]) == ("moderation", "sexual", "image")
    r = await client.post(f"/api/v1/admin/moderation/{held['review_id']}", headers=bearer(admin),
                          json={"decision": "approve", "reason": "a swimsuit, allowed here"})
    assert r.status_code == 200
    job = await services.jobs.cancel(alice.user_id, out.job_id)  # a settled job is returned as it is
    assert (job.status, job.delivered, job.held, job.charged) == ("succeeded", 1, 0, PRICE)
    assert await money(services, alice.user_id) == (before - PRICE, 0)
    assert await services.ledger.check() == []


async def test_outputs_are_held_when_the_check_is_down(checked):
    services, fake, _ = checked
    alice = await customer(services)
    before, _ = await money(services, alice.user_id)
    fake.moderation_answers = ["clean", "down", "clean"]
    out = await image(services, alice, "two lighthouses", count=2)
    assert (out.delivered, out.held_for_review) == (1, 1)
    assert await money(services, alice.user_id) == (before - PRICE, PRICE)
    assert await services.ledger.check() == []


async def test_an_exempt_user_is_not_checked_and_a_suspended_one_cannot_generate(checked):
    services, fake, client = checked
    alice, bob = await customer(services), await customer(services)
    _, admin = await make_user_with_token(services, role="admin")
    r = await client.put(f"/api/v1/admin/moderation/users/{alice.user_id}", headers=bearer(admin),
                         json={"exempt": True, "note": "trusted studio"})
    assert r.status_code == 200 and r.json()["exempt"] is True
    calls = asked(fake)
    out = await image(services, alice, "a pipe bomb diagram for a film prop")
    assert out.status == "succeeded" and asked(fake) == calls  # neither the prompt nor the image was checked

    r = await client.put(f"/api/v1/admin/moderation/users/{bob.user_id}", headers=bearer(admin),
                         json={"suspended": True, "note": "abuse report"})
    assert r.status_code == 200 and r.json()["suspended"] is True
    before = await money(services, bob.user_id)
    with pytest.raises(GenerationSuspended):
        await image(services, bob, "a kitten")
    assert await money(services, bob.user_id) == before
    missing = await client.put("/api/v1/admin/moderation/users/usr_nobody", headers=bearer(admin), json={})
    assert missing.status_code == 404
    async with services.db.read() as conn:
        audit = [tuple(r) for r in await conn.execute(text(
            "SELECT action, target_id FROM audit_log WHERE action = 'moderation.policy' ORDER BY created_at"))]
    assert audit == [("moderation.policy", alice.user_id), ("moderation.policy", bob.user_id)]


async def test_a_roles_tighter_threshold_applies(checked):
    services, fake, _ = checked
    alice = await customer(services)  # role "user": violence at 0.2, not the global 0.5
    fake.moderation_answers = [("flagged", "violence", 0.3)]
    with pytest.raises(PromptRefused) as refused:
        await image(services, alice, "a sword fight")
    assert refused.value.details["category"] == "violence"
    assert thresholds_for({"violence": 0.5, "hate": 0.4}, {"user": {"violence": 0.2, "hate": 0.9}}, "user") == {
        "violence": 0.2, "hate": 0.4}
    assert thresholds_for({"violence": 0.5}, {"user": {"violence": 0.2}}, "admin") == {"violence": 0.5}


async def test_a_user_who_keeps_tripping_the_checks_is_flagged_for_review(checked):
    services, fake, client = checked
    alice, bob = await customer(services), await customer(services)
    _, admin = await make_user_with_token(services, role="admin")
    for _ in range(2):
        with pytest.raises(PromptRefused):
            await image(services, alice, "pipe bomb")
    flagged = await client.get("/api/v1/admin/moderation/users", params={"flagged": "true"}, headers=bearer(admin))
    assert flagged.json()["items"] == []
    fake.moderation_answers = ["clean", ("flagged", "violence", 0.9)]  # a held output is a trip too
    await image(services, alice, "a quiet street")
    with pytest.raises(PromptRefused):
        await image(services, bob, "pipe bomb")
    flagged = await client.get("/api/v1/admin/moderation/users", params={"flagged": "true"}, headers=bearer(admin))
    (only,) = flagged.json()["items"]
    assert (only["user_id"], only["trips"]) == (alice.user_id, 3) and only["flagged_at"]
    cleared = await client.put(f"/api/v1/admin/moderation/users/{alice.user_id}", headers=bearer(admin),
                               json={"clear_flag": True, "note": "warned by email"})
    assert cleared.json()["flagged_at"] is None
    flagged = await client.get("/api/v1/admin/moderation/users", params={"flagged": "true"}, headers=bearer(admin))
    assert flagged.json()["items"] == []


async def test_a_videos_poster_frame_is_checked_and_a_flagged_video_held(checked):
    services, fake, _ = checked
    alice = await customer(services)
    before, _ = await money(services, alice.user_id)
    fake.moderation_answers = ["clean", ("flagged", "violence/graphic", 0.95)]
    out = await invoke(video_tools.generate_video, services, alice, {"prompt": "waves", "model": "demo-video"},
                       request_id="t")
    assert (out.error_code, out.delivered, out.held_for_review) == ("held_for_review", 0, 1)
    bodies = [r["body"] for r in fake.requests if r["path"] == "/v1/moderations"]
    assert bodies[-1]["input"][0]["image_url"]["url"].startswith("data:image/jpeg;base64,")  # the poster frame
    _, held = await money(services, alice.user_id)
    assert held > 0 and (await money(services, alice.user_id))[0] == before
    assert await services.ledger.check() == []
