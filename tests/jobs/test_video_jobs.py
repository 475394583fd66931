"""generate_video over the demo video provider (a queue that makes real MP4s) on both databases:
priced per second at the price frozen at submit, the default duration when none is asked, a
poster frame for every stored video, cancellation before it is made, and image-to-video from the
caller's own library."""

from __future__ import annotations

import asyncio
import io

import av
import pytest

from smarthub_mcp.errors import InvalidRequest
from smarthub_mcp.jobs import store
from smarthub_mcp.jobs.worker import run_round
from smarthub_mcp.media import library
from smarthub_mcp.media.errors import MediaNotFound
from smarthub_mcp.tools import images as image_tools
from smarthub_mcp.tools import jobs as job_tools
from smarthub_mcp.tools import videos as video_tools
from smarthub_mcp.tools.registry import invoke
from tests.conftest import QUICK_DEMO_TOML
from tests.jobs.conftest import customer

STD, PRO = 2_000, 4_000  # demo-video, micro-credits per second


@pytest.fixture
def config(make_config):
    """Demo videos ready after one second, polled every 0.2 s: these tests check what comes out, not
    the wait (a second is still ample to cancel one in)."""
    return make_config(toml=QUICK_DEMO_TOML.replace("demo_queue_seconds = 0.2", "demo_queue_seconds = 1.0"),
                       SMARTHUB_JOBS__POLL_INTERVAL_SECONDS="0.2", SMARTHUB_DATABASE__POOL_SIZE="4")


async def call(services, spec, principal, **arguments):
    return await invoke(spec, services, principal, arguments, request_id="test")


async def money(services, user_id: str) -> tuple[int, int]:
    bal = await services.ledger.balance(user_id)
    return bal.balance, bal.held


async def test_a_video_is_made_stored_with_a_poster_and_charged_per_second(services):
    alice = await customer(services)
    before, _ = await money(services, alice.user_id)
    out = await call(services, video_tools.generate_video, alice, prompt="waves at dusk", model="demo-video")
    assert (out.status, out.kind, out.delivered) == ("succeeded", "video", 1)
    assert out.credits_charged == "0.010000"  # the default 5 s at the std price
    (clip,) = await library.for_job(services.db, alice.user_id, out.job_id)
    assert (clip.kind, clip.content_type, clip.width, clip.height) == ("video", "video/mp4", 320, 180)
    assert clip.preview_key and clip.preview_content_type == "image/jpeg"  # the poster frame
    assert len(out.inline_images()) == 1 and out.inline_images()[0][1] == "image/jpeg"
    data = await services.storage.get(clip.storage_key)
    with av.open(io.BytesIO(data)) as container:
        assert round(container.duration / 1_000_000) == 5
    assert await money(services, alice.user_id) == (before - 5 * STD, 0)
    assert await services.ledger.check() == []


async def test_duration_and_mode_set_the_price(services):
    alice = await customer(services)
    before, _ = await money(services, alice.user_id)
    out = await call(services, video_tools.generate_video, alice, prompt="rain", model="demo-video", duration=10,
                     mode="pro", aspect_ratio="9:16")
    assert out.status == "succeeded" and out.credits_charged == "0.040000"
    assert (out.media[0].width, out.media[0].height) == (180, 320)
    assert await money(services, alice.user_id) == (before - 10 * PRO, 0)


async def test_what_the_model_does_not_offer_is_refused_before_anything_is_held(services):
    alice = await customer(services)
    before = await money(services, alice.user_id)
    for args in ({"duration": 7}, {"aspect_ratio": "4:3"}, {"mode": "ultra"}, {"model": "demo-image"},
                 {"start_image": "med_nope"}):
        with pytest.raises((InvalidRequest, MediaNotFound)):
            await call(services, video_tools.generate_video, alice, prompt="x", **{"model": "demo-video", **args})
    assert await money(services, alice.user_id) == before
    assert (await store.list_for(services.db, alice.user_id))[0] == []


async def test_a_video_cancelled_before_it_is_made_costs_nothing(services):
    alice = await customer(services)
    before, _ = await money(services, alice.user_id)
    services.settings.jobs.wait_seconds = 0
    out = await call(services, video_tools.generate_video, alice, prompt="slow", model="demo-video")
    assert out.status == "running" and out.credits_held == "0.010000"
    cancelled = await call(services, job_tools.cancel_job, alice, job_id=out.job_id)
    assert (cancelled.status, cancelled.credits_charged) == ("cancelled", "0.000000")
    assert await money(services, alice.user_id) == (before, 0)
    assert await services.ledger.check() == []


async def test_a_worker_finishes_a_video_the_caller_stopped_waiting_for(services):
    alice = await customer(services)
    before, _ = await money(services, alice.user_id)
    services.settings.jobs.wait_seconds = 0
    out = await call(services, video_tools.generate_video, alice, prompt="later", model="demo-video")
    job = await store.get(services.db, out.job_id)
    for _ in range(100):
        running: set[asyncio.Task[object]] = set()
        await run_round(services.jobs, running)
        if running:
            await asyncio.gather(*running)
        job = await store.get(services.db, out.job_id)
        if job.settled:
            break
        await asyncio.sleep(0.1)
    assert (job.status, job.submits, job.charged) == ("succeeded", 1, 5 * STD)
    shown = await call(services, job_tools.get_job, alice, job_id=out.job_id)
    assert shown.media[0].kind == "video" and shown.media[0].preview_url
    assert await money(services, alice.user_id) == (before - 5 * STD, 0)


async def test_image_to_video_from_the_callers_own_library(services):
    alice, bob = await customer(services), await customer(services)
    image = await call(services, image_tools.generate_image, alice, prompt="a still", model="demo-image")
    media_id = image.media[0].media_id
    out = await call(services, video_tools.generate_video, alice, prompt="move it", model="demo-video",
                     start_image=media_id)
    job = await store.get(services.db, out.job_id)
    assert job.request_data()["start_image_url"].startswith("http://testserver/media/")
    with pytest.raises(MediaNotFound):  # Bob cannot start from Alice's image
        await call(services, video_tools.generate_video, bob, prompt="steal", model="demo-video",
                   start_image=media_id)
