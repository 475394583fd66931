"""The kie.ai adapter, built through the adapter table, against a loopback kie jobs API server."""

from __future__ import annotations

import pytest

from smarthub_mcp.errors import ProviderError
from smarthub_mcp.providers.kie import aspect_ratio
from smarthub_mcp.providers.media import Finished, ImageRequest, Pending
from tests.fakes.kie_server import FakeKie, HttpRefuse, KieTask
from tests.fakes.media_files import AcceptThenHang, Garbled, Refuse
from tests.providers.media_adapters import adapter, assert_safe, fetch_png, run_to_end

REQUEST = ImageRequest(prompt="a lighthouse at dusk", size="1024x576", seed=5, upstream="flux-2/pro-text-to-image")


async def test_a_slow_task_is_created_once_polled_and_its_images_served(fake_kie: FakeKie) -> None:
    fake_kie.script(KieTask(waiting=1, generating=3))
    async with adapter("kie", fake_kie.url) as kie:
        outcome, running = await run_to_end(kie, REQUEST)
    assert running == 4
    assert len(fake_kie.submits) == 1
    submit = fake_kie.submits[0]
    assert submit["path"] == "/api/v1/jobs/createTask"
    assert submit["headers"]["authorization"] == "Bearer test-key"
    assert submit["body"] == {"model": "flux-2/pro-text-to-image",
                              "input": {"prompt": REQUEST.prompt, "aspect_ratio": "16:9", "seed": 5}}
    (task_id,) = fake_kie.tasks
    polls = [r for r in fake_kie.requests if r["path"] == "/api/v1/jobs/recordInfo"]
    assert len(polls) == 5 and all(r["query"] == {"taskId": task_id} for r in polls)
    assert outcome.flagged == 0 and len(outcome.outputs) == 1
    output = outcome.outputs[0]
    assert output.url is not None and output.url.startswith(fake_kie.url + "/files/")
    assert output.content_type == "image/png"
    assert await fetch_png(output.url) == (96, 54)


async def test_nano_banana_reads_the_ratio_from_image_size_and_only_delivered_images_count(fake_kie: FakeKie) -> None:
    fake_kie.script(KieTask(images=2))
    request = ImageRequest(prompt="p", size="768x1024", count=4, negative_prompt="text", upstream="google/nano-banana")
    async with adapter("kie", fake_kie.url) as kie:
        outcome, _ = await run_to_end(kie, request)
    assert fake_kie.submits[0]["body"]["input"] == {"prompt": "p", "image_size": "3:4", "num_images": 4,
                                                    "negative_prompt": "text"}
    assert (len(outcome.outputs), outcome.flagged) == (2, 0)  # two made, two delivered; kie flags no single image


@pytest.mark.parametrize(("size", "ratio"), [
    ((1024, 1024), "1:1"), ((1920, 1080), "16:9"), ((1080, 1920), "9:16"), ((1200, 900), "4:3"),
    ((832, 1248), "2:3"), ((2520, 1080), "21:9"), ((1000, 999), "1:1"),
])
def test_pixel_sizes_become_the_nearest_ratio(size: tuple[int, int], ratio: str) -> None:
    assert aspect_ratio(*size) == ratio


async def test_pending_is_all_another_replica_needs(fake_kie: FakeKie) -> None:
    fake_kie.script(KieTask(generating=2))
    async with adapter("kie", fake_kie.url) as first:
        pending = await first.submit(REQUEST)
    assert isinstance(pending, Pending) and pending.upstream_id in fake_kie.tasks
    async with adapter("kie", fake_kie.url) as second:
        outcome = await second.poll(pending, REQUEST)
        while isinstance(outcome, Pending):
            outcome = await second.poll(outcome, REQUEST)
    assert isinstance(outcome, Finished) and len(outcome.outputs) == 1
    assert len(fake_kie.submits) == 1


@pytest.mark.parametrize(("behaviour", "code", "retryable", "status"), [
    (Refuse(400), "provider_rejected", False, 400),
    (Refuse(422), "provider_rejected", False, 422),
    (Refuse(401), "provider_error", False, 401),
    (Refuse(402), "provider_error", False, 402),
    (Refuse(429), "provider_error", True, 429),
    (Refuse(455), "provider_error", True, 455),
    (Refuse(500), "provider_error", True, 500),
    (HttpRefuse(500), "provider_error", True, 500),
    (HttpRefuse(401), "provider_error", False, 401),
])
async def test_an_error_in_the_envelope_or_the_status_is_one_request_and_one_classified_error(
    fake_kie: FakeKie, behaviour: object, code: str, retryable: bool, status: int,
) -> None:
    fake_kie.script(behaviour)
    async with adapter("kie", fake_kie.url) as kie:
        with pytest.raises(ProviderError) as info:
            await kie.submit(REQUEST)
    assert (info.value.code, info.value.retryable, info.value.upstream_status) == (code, retryable, status)
    assert len(fake_kie.submits) == 1 and not fake_kie.tasks
    assert_safe(info.value)


async def test_no_credits_upstream_says_so(fake_kie: FakeKie) -> None:
    fake_kie.script(Refuse(402))
    async with adapter("kie", fake_kie.url) as kie:
        with pytest.raises(ProviderError) as info:
            await kie.submit(REQUEST)
    assert info.value.details["reason"] == "provider_credits"


async def test_a_wrong_key_is_not_shown(fake_kie: FakeKie) -> None:
    async with adapter("kie", fake_kie.url, key="wrong-secret-key") as kie:
        with pytest.raises(ProviderError) as info:
            await kie.submit(REQUEST)
    assert (info.value.upstream_status, info.value.retryable) == (401, False)
    assert_safe(info.value, "wrong-secret-key")


async def test_a_task_whose_answer_is_lost_is_unknown_never_resent(fake_kie: FakeKie) -> None:
    fake_kie.script(AcceptThenHang())
    async with adapter("kie", fake_kie.url, timeout_seconds=0.5) as kie:
        with pytest.raises(ProviderError) as info:
            await kie.submit(REQUEST)
    assert (info.value.code, info.value.retryable) == ("provider_outcome_unknown", False)
    assert len(fake_kie.submits) == 1 and len(fake_kie.tasks) == 1  # kie made the task
    assert_safe(info.value)


async def test_success_without_a_task_id_is_unknown(fake_kie: FakeKie) -> None:
    fake_kie.script(Garbled())
    async with adapter("kie", fake_kie.url) as kie:
        with pytest.raises(ProviderError) as info:
            await kie.submit(REQUEST)
    assert (info.value.code, info.value.retryable) == ("provider_outcome_unknown", False)


@pytest.mark.parametrize(("task", "code", "reason"), [
    (KieTask(generating=1, fail_code="500"), "provider_error", "generation_failed"),
    (KieTask(fail_code="400", fail_msg="Your prompt was flagged as sensitive (NSFW)"), "provider_rejected",
     "content_policy"),
    (KieTask(fail_code="422"), "provider_rejected", "invalid_input"),
    (KieTask(record_code=501), "provider_error", "generation_failed"),
])
async def test_a_task_kie_failed_is_a_final_error(fake_kie: FakeKie, task: KieTask, code: str, reason: str) -> None:
    fake_kie.script(task)
    async with adapter("kie", fake_kie.url) as kie:
        with pytest.raises(ProviderError) as info:
            await run_to_end(kie, REQUEST)
    assert (info.value.code, info.value.retryable, info.value.details["reason"]) == (code, False, reason)
    assert_safe(info.value, "NSFW")


async def test_poll_failures_that_are_no_verdict_are_retryable(fake_kie: FakeKie) -> None:
    async with adapter("kie", fake_kie.url) as kie:
        pending = await kie.submit(REQUEST)
        assert isinstance(pending, Pending)
        with pytest.raises(ProviderError) as info:
            await kie.poll(Pending("task_missing"), REQUEST)  # kie's 404 in the envelope
        assert (info.value.retryable, info.value.upstream_status) == (True, 404)
    async with adapter("kie", fake_kie.url, key="rotated-wrong-key") as other:
        with pytest.raises(ProviderError) as info:
            await other.poll(pending, REQUEST)
    assert (info.value.retryable, info.value.upstream_status) == (True, 401)
    assert_safe(info.value, "rotated-wrong-key")


async def test_kie_cannot_cancel_and_asks_nothing(fake_kie: FakeKie) -> None:
    fake_kie.script(KieTask(waiting=2))
    async with adapter("kie", fake_kie.url) as kie:
        pending = await kie.submit(REQUEST)
        assert isinstance(pending, Pending)
        seen = len(fake_kie.requests)
        assert await kie.cancel(pending) is False
        assert len(fake_kie.requests) == seen
        assert isinstance(await kie.poll(pending, REQUEST), Pending)  # the task runs on
