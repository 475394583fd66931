"""Video jobs on Runway (its official SDK against the loopback Runway fake) and on Kling through fal's
queue (the fal fake), end to end through the
engine on both databases: every final state settles once with the right money. Succeeded: charged
the frozen per-second price once. Failed and not billed: nothing. Failed and billed by the
provider: charged once. Cancelled before it ran: nothing. A create whose answer never came: sent
once, its credits held, never refunded by a timeout."""

from __future__ import annotations

import asyncio

import pytest

from smarthub_mcp.compose import build_services
from smarthub_mcp.jobs import store
from smarthub_mcp.jobs.worker import run_round
from smarthub_mcp.media.local import LocalStorage
from smarthub_mcp.media.signing import UrlSigner
from smarthub_mcp.tools import jobs as job_tools
from smarthub_mcp.tools import videos as video_tools
from smarthub_mcp.tools.registry import invoke
from tests.fakes.fal_queue_server import FakeFal, FalJob
from tests.fakes.runway_server import FakeRunway
from tests.fakes.video_script import Accept, AcceptThenHang, Task
from tests.jobs.conftest import customer

PER_SECOND = 50_000  # 0.05 credits


def toml(url: str) -> str:
    return f"""
[providers.runway]
type = "runway"
base_url = "{url}"
api_key_env = "RUNWAYML_API_SECRET"
timeout_seconds = 2

[models.gen4]
kind = "video"
routes = [{{ provider = "runway", upstream = "gen4_turbo" }}]
price = {{ per_second = {{ std = 0.05 }} }}
durations = [5, 10]
aspect_ratios = ["16:9"]

[jobs]
wait_seconds = 0
poll_interval_seconds = 0.05
"""


@pytest.fixture
async def runway_services(make_config, db, tmp_path):
    async with FakeRunway() as fake:
        config = make_config(toml(fake.url), RUNWAYML_API_SECRET="key_test_runway", SMARTHUB_DATABASE__POOL_SIZE="4")
        storage = LocalStorage(tmp_path / "media", signer=UrlSigner(lambda: b"k" * 32),
                               public_base_url="http://testserver")
        services = build_services(config, storage=storage)
        try:
            yield services, fake
        finally:
            await services.jobs.aclose()
            await services.router.aclose()
            await services.db.close()


async def settle_it(services, job_id: str) -> store.Job:
    for _ in range(200):
        running: set[asyncio.Task[object]] = set()
        await run_round(services.jobs, running)
        if running:
            await asyncio.gather(*running)
        job = await store.get(services.db, job_id)
        if job.settled or job.status == "unknown":
            return job
        await asyncio.sleep(0.05)
    raise AssertionError("the job neither settled nor became unknown")


async def money(services, user_id: str) -> tuple[int, int]:
    bal = await services.ledger.balance(user_id)
    return bal.balance, bal.held


async def start(services, principal) -> str:
    out = await invoke(video_tools.generate_video, services, principal, {"prompt": "a storm", "model": "gen4"},
                       request_id="t")
    return str(out.job_id)


@pytest.mark.parametrize(("task", "status", "charged"), [
    (Task(waiting=1, running=(0.3, 0.8)), "succeeded", 5 * PER_SECOND),
    (Task(fail="INTERNAL.BAD_OUTPUT.CODE01"), "failed", 0),
    (Task(fail="INTERNAL.BAD_OUTPUT.CODE01", charge_failure=True), "failed", 5 * PER_SECOND),
])
async def test_each_final_state_settles_once_with_the_right_money(runway_services, task, status, charged):
    services, fake = runway_services
    alice = await customer(services)
    before, _ = await money(services, alice.user_id)
    fake.script(Accept(task))
    job = await settle_it(services, await start(services, alice))
    assert (job.status, job.charged, job.submits) == (status, charged, 1)
    assert len(fake.creates()) == 1
    assert await money(services, alice.user_id) == (before - charged, 0)
    if status == "succeeded":
        shown = await invoke(job_tools.get_job, services, alice, {"job_id": job.id}, request_id="t")
        assert shown.media[0].content_type == "video/mp4" and shown.media[0].preview_url  # poster frame
    assert await services.ledger.check() == []


async def test_a_video_cancelled_before_it_runs_costs_nothing(runway_services):
    services, fake = runway_services
    alice = await customer(services)
    before, _ = await money(services, alice.user_id)
    fake.script(Accept(Task(waiting=50)))
    job_id = await start(services, alice)
    cancelled = await invoke(job_tools.cancel_job, services, alice, {"job_id": job_id}, request_id="t")
    assert cancelled.status == "cancelled"
    assert await money(services, alice.user_id) == (before, 0)
    assert await services.ledger.check() == []


async def test_a_create_whose_answer_never_came_is_sent_once_and_stays_held(runway_services):
    services, fake = runway_services
    alice = await customer(services)
    before, _ = await money(services, alice.user_id)
    fake.script(AcceptThenHang(Task()))
    job = await settle_it(services, await start(services, alice))
    assert (job.status, job.error_code, job.submits, job.settled) == ("unknown", "provider_outcome_unknown", 1, False)
    assert len(fake.creates()) == 1  # never sent again, to this route or another
    assert await money(services, alice.user_id) == (before, 5 * PER_SECOND)  # held, not refunded


FAL_TOML = """
[providers.fal]
type = "fal"
base_url = "{url}"
api_key_env = "FAL_KEY"
timeout_seconds = 2

[models.kling-fal]
kind = "video"
routes = [{{ provider = "fal", upstream = "fal-ai/kling-video/v2.1/standard/text-to-video" }}]
price = {{ per_second = {{ std = 0.05 }} }}
durations = [5, 10]
aspect_ratios = ["16:9", "1:1"]

[jobs]
wait_seconds = 30
poll_interval_seconds = 0.05
"""


async def test_kling_through_fals_queue_makes_a_video_charged_per_second(make_config, db, tmp_path):
    async with FakeFal() as fal:
        config = make_config(FAL_TOML.format(url=fal.url), FAL_KEY=fal.api_key, SMARTHUB_DATABASE__POOL_SIZE="4")
        storage = LocalStorage(tmp_path / "media", signer=UrlSigner(lambda: b"k" * 32),
                               public_base_url="http://testserver")
        services = build_services(config, storage=storage)
        try:
            alice = await customer(services)
            before, _ = await money(services, alice.user_id)
            fal.script(FalJob(in_queue=1, in_progress=2, video=True))
            out = await invoke(video_tools.generate_video, services, alice,
                               {"prompt": "a fox runs", "model": "kling-fal", "duration": 10, "aspect_ratio": "1:1"},
                               request_id="t")
            assert (out.status, out.delivered, out.credits_charged) == ("succeeded", 1, "0.500000")
            (submit,) = fal.submits
            assert submit["path"] == "/fal-ai/kling-video/v2.1/standard/text-to-video"
            assert (submit["body"]["duration"], submit["body"]["aspect_ratio"]) == ("10", "1:1")
            assert out.media[0].content_type == "video/mp4" and out.media[0].preview_url
            assert await money(services, alice.user_id) == (before - 10 * PER_SECOND, 0)
            assert await services.ledger.check() == []
        finally:
            await services.jobs.aclose()
            await services.router.aclose()
            await services.db.close()
