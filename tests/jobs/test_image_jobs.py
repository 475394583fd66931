"""generate_image and its jobs on both databases, over the demo image provider (synchronous and
queued): exact charges for what was delivered, holds that resolve once, jobs that any worker can
finish, cancellation, and one user never seeing another's jobs."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import text

from smarthub_mcp.errors import InsufficientCredits
from smarthub_mcp.jobs import store
from smarthub_mcp.jobs.engine import JobEngine
from smarthub_mcp.jobs.errors import JobNotFound
from smarthub_mcp.jobs.worker import run_round
from smarthub_mcp.media import library
from smarthub_mcp.tools import images as image_tools
from smarthub_mcp.tools import jobs as job_tools
from smarthub_mcp.tools.registry import invoke
from tests.jobs.conftest import customer

PRICE = 10_000  # demo-image, 1024x1024: 0.01 credits


async def call(services, spec, principal, **arguments):
    return await invoke(spec, services, principal, arguments, request_id="test")


async def money(services, user_id: str) -> tuple[int, int]:
    bal = await services.ledger.balance(user_id)
    return bal.balance, bal.held


async def usage_rows(services, user_id: str) -> list[tuple]:
    async with services.db.read() as conn:
        return [tuple(r) for r in await conn.execute(text(
            "SELECT tool, model, status, error_code, images, estimate, cost, provider FROM usage_events"
            " WHERE user_id = :u ORDER BY id"), {"u": user_id})]


async def test_two_images_are_delivered_stored_and_charged_exactly(services):
    alice = await customer(services)
    before, _ = await money(services, alice.user_id)
    out = await call(services, image_tools.generate_image, alice, prompt="a red fox", model="demo-image", count=2,
                     seed=7)
    assert (out.status, out.delivered, out.flagged, out.count) == ("succeeded", 2, 0, 2)
    assert out.credits_charged == "0.020000" and out.credits_held == "0.000000"
    stored = await library.for_job(services.db, alice.user_id, out.job_id)
    assert [m.media_id for m in out.media] == [m.id for m in stored]
    assert [m.cost for m in stored] == [PRICE, PRICE]
    for m in out.media:
        assert m.url and m.url.startswith("http://testserver/media/") and m.job_id == out.job_id
        assert (m.width, m.height, m.content_type) == (1024, 1024, "image/png")
    assert len(out.inline_images()) == 2 and all(len(d) <= 200_000 for d, _ in out.inline_images())
    assert await money(services, alice.user_id) == (before - 2 * PRICE, 0)
    assert await usage_rows(services, alice.user_id) == [
        ("generate_image", "demo-image", "ok", None, 2, 2 * PRICE, 2 * PRICE, "demo-image")]
    assert await services.ledger.check() == []


async def test_flagged_images_are_held_for_review_and_not_charged(services):
    alice = await customer(services)
    before, _ = await money(services, alice.user_id)
    out = await call(services, image_tools.generate_image, alice, prompt="[flag] a fox", model="demo-image", count=4)
    assert (out.status, out.delivered, out.flagged, out.held_for_review, len(out.media)) == ("succeeded", 2, 2, 2, 2)
    assert out.credits_charged == "0.020000" and out.error_code == "partly_delivered"
    assert "2 held for review" in out.error_message
    # the two held images' price stays held for the review (tests/jobs/test_reviews.py decides them)
    assert await money(services, alice.user_id) == (before - 2 * PRICE, 2 * PRICE)
    rows = await usage_rows(services, alice.user_id)
    assert [(r[4], r[5], r[6]) for r in rows] == [(2, 4 * PRICE, 2 * PRICE)]
    assert await services.ledger.check() == []


async def test_a_call_that_cannot_pay_holds_nothing_and_leaves_no_job(services):
    poor = await customer(services, credits=0)
    balance, _ = await money(services, poor.user_id)
    if balance:  # whatever the sign-up grant is, spend it
        await services.ledger.debit(poor.user_id, balance, idempotency_key="drain")
    count = 4
    with pytest.raises(InsufficientCredits):
        await call(services, image_tools.generate_image, poor, prompt="a fox", model="demo-image", count=count)
    assert (await store.list_for(services.db, poor.user_id))[0] == []
    assert (await money(services, poor.user_id))[1] == 0


async def test_bad_arguments_are_refused_before_anything_is_held(services):
    alice = await customer(services)
    before = await money(services, alice.user_id)
    for args in ({"size": "999x999"}, {"aspect_ratio": "wide"}, {"count": 9}, {"model": "demo-chat"},
                 {"model": "nope"}):
        with pytest.raises(Exception) as info:
            await call(services, image_tools.generate_image, alice, prompt="a fox", **{"model": "demo-image", **args})
        assert getattr(info.value, "code", None) in ("invalid_request", "unknown_model"), args
    assert await money(services, alice.user_id) == before
    assert (await store.list_for(services.db, alice.user_id))[0] == []


async def test_an_aspect_ratio_picks_the_nearest_priced_size(services):
    alice = await customer(services)
    out = await call(services, image_tools.generate_image, alice, prompt="tall", model="demo-image",
                     aspect_ratio="3:4")
    assert out.size == "768x1024" and out.media[0].height == 1024


async def test_a_queued_job_answers_with_its_id_and_a_worker_finishes_it(services):
    alice = await customer(services)
    before, _ = await money(services, alice.user_id)
    services.settings.jobs.wait_seconds = 0
    out = await call(services, image_tools.generate_image, alice, prompt="slow fox", model="demo-image-slow", count=2)
    assert out.status == "running" and out.credits_charged is None and out.credits_held == "0.020000"
    assert await money(services, alice.user_id) == (before, 2 * PRICE)  # held, not charged
    # Another replica's engine (its own lease name) takes the job over and finishes it.
    other = JobEngine(services.db, services.meter, services.router, services.storage, services.settings.jobs)
    job = await store.get(services.db, out.job_id)
    for _ in range(100):
        running: set[asyncio.Task[object]] = set()
        await run_round(other, running)
        if running:
            await asyncio.gather(*running)
        job = await store.get(services.db, out.job_id)
        if job.settled:
            break
        await asyncio.sleep(0.1)
    await other.aclose()
    assert job.status == "succeeded" and job.submits == 1 and job.delivered == 2 and job.progress == 100
    shown = await call(services, job_tools.get_job, alice, job_id=out.job_id)
    assert shown.credits_charged == "0.020000" and len(shown.media) == 2
    assert await money(services, alice.user_id) == (before - 2 * PRICE, 0)
    assert await services.ledger.check() == []


async def test_a_running_job_can_be_cancelled_and_costs_nothing(services):
    alice = await customer(services)
    before, _ = await money(services, alice.user_id)
    services.settings.jobs.wait_seconds = 0
    out = await call(services, image_tools.generate_image, alice, prompt="slow", model="demo-image-slow")
    cancelled = await call(services, job_tools.cancel_job, alice, job_id=out.job_id)
    assert (cancelled.status, cancelled.credits_charged) == ("cancelled", "0.000000")
    assert await money(services, alice.user_id) == (before, 0)
    # A step after the cancel changes nothing (the job is settled).
    job = await store.get(services.db, out.job_id)
    assert await store.claim(services.db, job.id, "someone", 10_000) is None
    again = await call(services, job_tools.cancel_job, alice, job_id=out.job_id)
    assert again.status == "cancelled"
    assert [r[2:4] for r in await usage_rows(services, alice.user_id)] == [("cancelled", "cancelled")]
    assert await services.ledger.check() == []


async def test_another_users_job_is_not_found(services):
    alice, bob = await customer(services), await customer(services)
    out = await call(services, image_tools.generate_image, alice, prompt="mine", model="demo-image")
    for spec in (job_tools.get_job, job_tools.cancel_job):
        for job_id in (out.job_id, "job_nope", "../x", ""):
            with pytest.raises(JobNotFound):
                await call(services, spec, bob, job_id=job_id)
    assert (await call(services, job_tools.list_jobs, bob)).items == []
    mine = await call(services, job_tools.list_jobs, alice)
    assert [j.job_id for j in mine.items] == [out.job_id]


async def test_a_submit_cut_off_by_a_dead_worker_is_never_sent_again_and_stays_held(services):
    """A job left 'submitting' (its worker died mid-send) is marked unknown by the next worker, not
    resubmitted; its credits stay held for reconciling."""
    alice = await customer(services)
    before, _ = await money(services, alice.user_id)
    from smarthub_mcp.jobs.images import ImageAsk

    engine = services.jobs
    job = await engine.create(alice, tool="generate_image", model="demo-image",
                                    ask=ImageAsk("lost", "1024x1024", 1), request_id="r")
    assert await store.move(services.db, job.id, engine.owner, ("queued",), status="submitting", submits=1)
    async with services.db.write() as conn:  # its lease ran out: the worker is gone
        await conn.execute(text("UPDATE jobs SET lease_until = 1 WHERE id = :id"), {"id": job.id})
    other = JobEngine(services.db, services.meter, services.router, services.storage, services.settings.jobs)
    running: set[asyncio.Task[object]] = set()
    await run_round(other, running)
    await asyncio.gather(*running)
    await other.aclose()
    job = await store.get(services.db, job.id)
    assert (job.status, job.submits, job.error_code, job.settled) == ("unknown", 1, "submit_interrupted", False)
    assert await money(services, alice.user_id) == (before, PRICE)  # still held
    assert await library.for_job(services.db, alice.user_id, job.id) == []


async def test_twenty_concurrent_calls_charge_exactly(services):
    alice = await customer(services, credits=10)
    before, _ = await money(services, alice.user_id)
    outs = await asyncio.gather(*[
        call(services, image_tools.generate_image, alice, prompt=f"fox {i}", model="demo-image", size="512x512")
        for i in range(20)
    ])
    assert all(o.status == "succeeded" for o in outs)
    assert await money(services, alice.user_id) == (before - 20 * 5_000, 0)
    assert await services.ledger.check() == []



async def test_a_webhook_and_a_poll_finishing_together_settle_once(services):
    """The webhook and the poller both end in `finish` with the provider's result; racing, with a
    cancel thrown in, each job is settled by exactly one of them and charged once."""
    from smarthub_mcp.jobs.images import ImageAsk
    from smarthub_mcp.providers.demo_image import draw
    from smarthub_mcp.providers.media import Finished, MediaOutput

    alice = await customer(services)
    before, _ = await money(services, alice.user_id)
    engine = services.jobs
    outcome = Finished(outputs=(MediaOutput("image/png", data=draw("race", 64, 64, 0, 0)),))
    for i in range(10):
        job = await engine.create(alice, tool="generate_image", model="demo-image",
                                  ask=ImageAsk(f"race {i}", "1024x1024", 1), request_id=f"r{i}")
        assert await store.move(services.db, job.id, engine.owner, ("queued",), status="running",
                                upstream_id=f"up-{i}", provider="demo-image", submits=1)
        job = await store.get(services.db, job.id)
        results = await asyncio.gather(
            engine.finish(job, outcome, provider="demo-image", upstream="demo-image-1"),
            engine.finish(job, outcome, provider="demo-image", upstream="demo-image-1"),
            return_exceptions=True,
        )
        assert sorted(r.first for r in results) == [False, True], results
        assert len(await library.for_job(services.db, alice.user_id, job.id)) == 1
    assert await money(services, alice.user_id) == (before - 10 * PRICE, 0)
    assert len(await usage_rows(services, alice.user_id)) == 10
    assert await services.ledger.check() == []
