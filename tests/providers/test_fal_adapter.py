"""The fal adapter, built through the adapter table, against a loopback fal queue server."""

from __future__ import annotations

import base64
import json
import random

import pytest

from smarthub_mcp.config import Settings
from smarthub_mcp.errors import ProviderError
from smarthub_mcp.providers.media import Finished, ImageRequest, MediaProvider, Pending, WebhookParser
from smarthub_mcp.providers.registry import ProviderRegistry
from smarthub_mcp.providers.router import Router
from tests.conftest import free_port
from tests.fakes.fal_queue_server import FakeFal, FalJob
from tests.fakes.media_files import AcceptThenHang, Garbled, Refuse
from tests.providers.media_adapters import adapter, assert_safe, fetch_png, run_to_end

FLUX = ImageRequest(prompt="a red kite over the sea", size="96x64", count=2, seed=7,
                    negative_prompt="blurry", upstream="fal-ai/flux/dev")


async def test_a_slow_job_is_submitted_once_polled_and_its_images_served(fake_fal: FakeFal) -> None:
    fake_fal.script(FalJob(in_queue=1, in_progress=3))
    async with adapter("fal", fake_fal.url) as fal:
        outcome, running = await run_to_end(fal, FLUX)
    assert running == 4  # IN_QUEUE once, IN_PROGRESS three times
    assert len(fake_fal.submits) == 1
    submit = fake_fal.submits[0]
    assert submit["path"] == "/fal-ai/flux/dev"
    assert submit["headers"]["authorization"] == "Key test-key"
    assert submit["body"] == {"prompt": FLUX.prompt, "image_size": {"width": 96, "height": 64}, "num_images": 2,
                              "enable_safety_checker": True, "seed": 7}  # FLUX takes no negative prompt
    assert outcome.flagged == 0 and len(outcome.outputs) == 2
    for output in outcome.outputs:
        assert output.url is not None and output.url.startswith(fake_fal.url + "/files/")
        assert (output.content_type, output.width, output.height) == ("image/png", 96, 64)
        assert await fetch_png(output.url) == (96, 64)


async def test_other_models_get_the_negative_prompt(fake_fal: FakeFal) -> None:
    async with adapter("fal", fake_fal.url) as fal:
        await run_to_end(fal, ImageRequest(prompt="p", size="32x32", negative_prompt="blurry",
                                           upstream="fal-ai/recraft/v3/text-to-image"))
    assert fake_fal.submits[0]["body"]["negative_prompt"] == "blurry"


async def test_images_fal_flags_are_counted_and_withheld(fake_fal: FakeFal) -> None:
    fake_fal.script(FalJob(in_progress=1, flagged=(1, 3)))
    async with adapter("fal", fake_fal.url) as fal:
        outcome, _ = await run_to_end(fal, ImageRequest(prompt="p", size="32x32", count=4, upstream="fal-ai/flux/dev"))
    assert (len(outcome.outputs), outcome.flagged) == (2, 2)
    assert [h.flag for h in outcome.held] == ["nsfw", "nsfw"] and all(h.url for h in outcome.held)
    assert [(o.url or "").rsplit("-", 1)[1] for o in outcome.outputs] == ["0.png", "2.png"]  # 1 and 3 withheld


async def test_pending_carries_what_another_replica_needs(fake_fal: FakeFal) -> None:
    fake_fal.script(FalJob(in_progress=2))
    async with adapter("fal", fake_fal.url) as first:
        pending = await first.submit(FLUX)
    assert isinstance(pending, Pending) and pending.upstream_id in fake_fal.jobs
    assert "test-key" not in str(pending)
    assert pending.state["status_url"].startswith(fake_fal.url)
    async with adapter("fal", fake_fal.url) as second:  # a fresh process: only the stored Pending is known
        outcome = await second.poll(pending, FLUX)
        while isinstance(outcome, Pending):
            outcome = await second.poll(outcome, FLUX)
    assert isinstance(outcome, Finished) and len(outcome.outputs) == 2
    assert len(fake_fal.submits) == 1


@pytest.mark.parametrize(("status", "code", "retryable"), [
    (400, "provider_rejected", False), (422, "provider_rejected", False), (500, "provider_error", True),
    (503, "provider_error", True), (429, "provider_error", True),
    (504, "provider_outcome_unknown", False),  # a gateway gave up waiting: fal may have the job
])
async def test_a_refused_submit_is_one_request_and_one_classified_error(
    fake_fal: FakeFal, status: int, code: str, retryable: bool,
) -> None:
    fake_fal.script(Refuse(status))
    async with adapter("fal", fake_fal.url) as fal:
        with pytest.raises(ProviderError) as info:
            await fal.submit(FLUX)
    assert (info.value.code, info.value.retryable, info.value.upstream_status) == (code, retryable, status)
    assert len(fake_fal.submits) == 1
    assert_safe(info.value)


async def test_follow_up_urls_on_another_host_are_not_followed_with_our_key(fake_fal: FakeFal) -> None:
    elsewhere = f"http://127.0.0.1:{free_port()}"
    fake_fal.script(FalJob(in_progress=1, url_host=elsewhere))
    async with adapter("fal", fake_fal.url) as fal:
        pending = await fal.submit(FLUX)
        assert isinstance(pending, Pending)
        assert not any(url.startswith(elsewhere) for url in pending.state.values())
        outcome, _ = await run_to_end_from(fal, pending)
    assert len(outcome.outputs) == 2


async def test_a_wrong_key_is_not_retryable_and_not_shown(fake_fal: FakeFal) -> None:
    async with adapter("fal", fake_fal.url, key="wrong-secret-key") as fal:
        with pytest.raises(ProviderError) as info:
            await fal.submit(FLUX)
    assert (info.value.code, info.value.retryable, info.value.upstream_status) == ("provider_error", False, 401)
    assert len(fake_fal.submits) == 1
    assert_safe(info.value, "wrong-secret-key")


async def test_a_submit_whose_answer_is_lost_is_unknown_never_resent(fake_fal: FakeFal) -> None:
    fake_fal.script(AcceptThenHang())
    async with adapter("fal", fake_fal.url, timeout_seconds=0.5) as fal:
        with pytest.raises(ProviderError) as info:
            await fal.submit(FLUX)
    assert (info.value.code, info.value.retryable) == ("provider_outcome_unknown", False)
    assert len(fake_fal.submits) == 1 and len(fake_fal.jobs) == 1  # fal has the job (and would bill it)
    assert_safe(info.value)


async def test_an_unreadable_accepted_submit_is_unknown(fake_fal: FakeFal) -> None:
    fake_fal.script(Garbled())
    async with adapter("fal", fake_fal.url) as fal:
        with pytest.raises(ProviderError) as info:
            await fal.submit(FLUX)
    assert (info.value.code, info.value.retryable) == ("provider_outcome_unknown", False)
    assert len(fake_fal.submits) == 1
    assert_safe(info.value, "upstream says hi")


async def test_an_unknown_outcome_is_not_retried_on_the_next_route(fake_fal: FakeFal) -> None:
    fake_fal.script(AcceptThenHang())
    settings = Settings(
        providers={"fal": {"type": "fal", "base_url": fake_fal.url, "api_key_env": "FAL_KEY", "timeout_seconds": 0.5},
                   "pics": {"type": "demo-image"}},
        models={"flux": {"kind": "image", "routes": [{"provider": "fal", "upstream": "fal-ai/flux/dev", "priority": 0},
                                                      {"provider": "pics", "upstream": "d", "priority": 1}]}},
    )
    router = Router(settings, ProviderRegistry.from_settings(settings, env={"FAL_KEY": "test-key"}),
                    rng=random.Random(1))
    try:
        with pytest.raises(ProviderError) as info:
            await router.call("flux", "image", lambda p, r: p.submit(FLUX.for_upstream(r.upstream)))
    finally:
        await router.aclose()
    assert info.value.code == "provider_outcome_unknown"
    assert [a.provider for a in info.value.attempts] == ["fal"]  # the demo route was never tried
    assert len(fake_fal.submits) == 1


async def test_an_unreachable_provider_is_retryable_since_nothing_was_sent() -> None:
    async with adapter("fal", f"http://127.0.0.1:{free_port()}") as fal:
        with pytest.raises(ProviderError) as info:
            await fal.submit(FLUX)
    assert (info.value.code, info.value.retryable, info.value.details["reason"]) == ("provider_error", True,
                                                                                    "connection")


@pytest.mark.parametrize(("error", "code", "reason"), [
    ("Runner crashed", "provider_error", "generation_failed"),
    ("NSFW content detected in the prompt", "provider_rejected", "content_policy"),
])
async def test_a_job_fal_failed_is_a_final_error(fake_fal: FakeFal, error: str, code: str, reason: str) -> None:
    fake_fal.script(FalJob(in_progress=1, error=error))
    async with adapter("fal", fake_fal.url) as fal:
        with pytest.raises(ProviderError) as info:
            await run_to_end(fal, FLUX)
    assert (info.value.code, info.value.retryable, info.value.details["reason"]) == (code, False, reason)
    assert_safe(info.value, error)


async def test_poll_failures_that_are_no_verdict_are_retryable(fake_fal: FakeFal) -> None:
    fake_fal.script(FalJob(result_status=503), FalJob())
    async with adapter("fal", fake_fal.url) as fal:
        broken = await fal.submit(FLUX)
        assert isinstance(broken, Pending)
        with pytest.raises(ProviderError) as info:
            await fal.poll(broken, FLUX)
        assert (info.value.retryable, info.value.upstream_status) == (True, 503)
        good = await fal.submit(FLUX)
    assert isinstance(good, Pending)
    async with adapter("fal", fake_fal.url, key="rotated-wrong-key") as other:
        with pytest.raises(ProviderError) as info:
            await other.poll(good, FLUX)  # a 401 says nothing about the job: ask again later
    assert (info.value.retryable, info.value.upstream_status) == (True, 401)
    assert_safe(info.value, "rotated-wrong-key")
    assert len(fake_fal.submits) == 2


async def test_cancel_before_start_removes_the_job(fake_fal: FakeFal) -> None:
    fake_fal.script(FalJob(in_queue=3))
    async with adapter("fal", fake_fal.url) as fal:
        pending = await fal.submit(FLUX)
        assert isinstance(pending, Pending)
        assert await fal.cancel(pending) is True
        with pytest.raises(ProviderError) as info:
            await fal.poll(pending, FLUX)
    assert info.value.retryable is False
    cancels = [r for r in fake_fal.requests if r["method"] == "PUT"]
    assert [r["path"] for r in cancels] == [f"/fal-ai/flux/requests/{pending.upstream_id}/cancel"]


async def test_a_started_job_is_only_signalled_and_cancel_says_false(fake_fal: FakeFal) -> None:
    fake_fal.script(FalJob(in_progress=4))
    async with adapter("fal", fake_fal.url) as fal:
        pending = await fal.submit(FLUX)
        assert isinstance(pending, Pending)
        running = await fal.poll(pending, FLUX)
        assert isinstance(running, Pending)
        # fal would answer CANCELLATION_REQUESTED, but a running job may still finish and bill:
        # the engine must keep polling and charge what is delivered, so the answer is False.
        assert await fal.cancel(running) is False
        assert [r["method"] for r in fake_fal.requests if r["path"].endswith("/cancel")] == ["PUT"]  # signalled
        outcome, _ = await run_to_end_from(fal, running)
        assert len(outcome.outputs) == 2  # this runner ignored the signal
        assert await fal.cancel(running) is False  # completed: nothing to cancel, no PUT sent
    assert len([r for r in fake_fal.requests if r["method"] == "PUT"]) == 1


async def run_to_end_from(fal: MediaProvider, pending: Pending) -> tuple[Finished, int]:
    outcome, polls = await fal.poll(pending, FLUX), 1
    while isinstance(outcome, Pending):
        outcome, polls = await fal.poll(outcome, FLUX), polls + 1
    return outcome, polls


async def test_a_webhook_url_is_passed_to_fal_and_its_posts_read_as_outcomes(fake_fal: FakeFal) -> None:
    hook = "https://hub.example.com/webhooks/jobs/job_1/tok?x=1"
    async with adapter("fal", fake_fal.url) as fal:
        assert isinstance(fal, WebhookParser)
        await fal.submit(FLUX.with_webhook(hook))
        image = {"url": "https://v3.fal.media/files/x.png", "width": 8, "height": 8, "content_type": "image/png"}
        inline = {"url": "data:image/png;base64," + base64.b64encode(b"\x89PNG-bytes").decode(), "width": 8}

        def post(body: dict) -> tuple[str, object]:
            return fal.parse_webhook(json.dumps(body).encode(), {"content-type": "application/json"})

        rid, outcome = post({"request_id": "r1", "gateway_request_id": "r1", "status": "OK",
                             "payload": {"images": [image, inline, image], "has_nsfw_concepts": [False, False, True]}})
        assert rid == "r1" and isinstance(outcome, Finished) and (len(outcome.outputs), outcome.flagged) == (2, 1)
        assert (outcome.outputs[1].data, outcome.outputs[1].content_type) == (b"\x89PNG-bytes", "image/png")
        rid, outcome = post({"request_id": "r2", "status": "OK", "payload": None, "payload_error": "too large"})
        assert isinstance(outcome, Pending) and outcome.upstream_id == "r2"  # poll for it
        rid, outcome = post({"request_id": "r3", "status": "ERROR", "error": "Invalid status code: 422",
                             "payload": {"detail": [{"msg": "secret upstream detail"}]}})
        assert rid == "r3" and isinstance(outcome, ProviderError) and outcome.retryable is False
        assert_safe(outcome)
        for garbage in (b"{not json", b'{"status": "OK"}'):
            with pytest.raises(ProviderError):
                fal.parse_webhook(garbage, {})
    assert fake_fal.submits[0]["query"] == {"fal_webhook": hook}


def test_a_missing_key_is_a_reason_not_a_crash() -> None:
    settings = Settings(providers={"fal": {"type": "fal", "api_key_env": "FAL_KEY"}})
    entry = ProviderRegistry.from_settings(settings, env={}).get("fal")
    assert not entry.available and entry.reason == "FAL_KEY is not set"
