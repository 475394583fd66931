"""The Runway adapter, on the official `runwayml` SDK, against a loopback Runway API server."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from smarthub_mcp.errors import ProviderError, ProviderOutcomeUnknown, ProviderRejected, ProviderTaskFailed
from smarthub_mcp.providers.media import Finished, Pending, VideoRequest
from smarthub_mcp.providers.runway import RunwayProvider
from tests.conftest import free_port
from tests.fakes.runway_server import FakeRunway
from tests.fakes.video_script import Accept, AcceptThenCut, AcceptThenHang, Garbage, Refuse, Task
from tests.providers.video import assert_real_mp4, assert_safe, fetch, poll_to_end, registry

ENV = {"RUNWAYML_API_SECRET": "key_test_runway"}
REQUEST = VideoRequest(prompt="a red kite over the sea", duration_seconds=5, aspect_ratio="16:9", seed=7,
                       negative_prompt="blur", external_id="job_123", upstream="gen4.5")


def config(url: str, **extra: Any) -> dict[str, Any]:
    return {"type": "runway", "base_url": url, "api_key_env": "RUNWAYML_API_SECRET", **extra}


@pytest.fixture
async def runway(fake_runway: FakeRunway) -> AsyncIterator[RunwayProvider]:
    providers = registry(config(fake_runway.url, timeout_seconds=2), ENV)
    entry = providers.get("video")
    assert entry.capabilities == {"video"} and entry.available
    yield entry.provider
    await providers.aclose()


def sent(fake: FakeRunway, method: str) -> list[dict[str, Any]]:
    return [r for r in fake.requests if r["method"] == method and r["path"].startswith("/v1/")]


async def test_text_to_video_reports_progress_then_a_real_mp4_and_its_charge(
        runway: RunwayProvider, fake_runway: FakeRunway) -> None:
    fake_runway.script(Accept(Task(waiting=1, running=(0.25, 0.6, 1.0), cost=40)))
    first = await runway.submit(REQUEST)
    assert isinstance(first, Pending) and first.state == {"status": "PENDING", "progress": "0"}

    done, seen = await poll_to_end(runway, first, REQUEST)

    assert [(p.state["status"], p.state["progress"]) for p in seen] == [
        ("PENDING", "0"), ("PENDING", "0"), ("RUNNING", "25"), ("RUNNING", "60"), ("RUNNING", "99")]
    assert done.provider_charge == 40 and done.seconds is None
    (output,) = done.outputs
    assert output.content_type == "video/mp4" and output.url and output.url.startswith(fake_runway.url)
    assert_real_mp4(await fetch(output.url))
    (create,) = fake_runway.creates()
    assert create["path"] == "/v1/text_to_video"
    assert create["body"] == {"model": "gen4.5", "promptText": "a red kite over the sea", "ratio": "1280:720",
                              "duration": 5, "seed": 7}
    assert create["headers"]["authorization"] == "Bearer key_test_runway"
    assert create["headers"]["x-runway-version"]
    assert [r["path"] for r in sent(fake_runway, "GET")] == [f"/v1/tasks/{first.upstream_id}"] * 5


async def test_a_start_image_makes_it_image_to_video(runway: RunwayProvider, fake_runway: FakeRunway) -> None:
    request = VideoRequest(prompt="make it move", duration_seconds=10, aspect_ratio="720:1280",
                           start_image_url="https://img.example/cat.png", upstream="gen4_turbo")
    done, _ = await poll_to_end(runway, await runway.submit(request), request)
    assert isinstance(done, Finished) and len(done.outputs) == 1
    (create,) = fake_runway.creates()
    assert create["path"] == "/v1/image_to_video"
    assert create["body"] == {"model": "gen4_turbo", "promptText": "make it move", "ratio": "720:1280",
                              "duration": 10, "promptImage": "https://img.example/cat.png"}


async def test_a_throttled_task_is_waiting_at_zero(runway: RunwayProvider, fake_runway: FakeRunway) -> None:
    fake_runway.script(Accept(Task(waiting=2, throttled=True)))
    pending = await runway.poll(await runway.submit(REQUEST), REQUEST)
    assert isinstance(pending, Pending) and pending.state == {"status": "THROTTLED", "progress": "0"}


async def test_a_slow_job_keeps_running_until_it_is_done(runway: RunwayProvider, fake_runway: FakeRunway) -> None:
    fake_runway.script(Accept(Task(waiting=0, running=(0.9,), hold=True)))
    pending = await runway.submit(REQUEST)
    for _ in range(6):
        pending = await runway.poll(pending, REQUEST)
        assert isinstance(pending, Pending) and pending.state == {"status": "RUNNING", "progress": "90"}
    fake_runway.release(pending.upstream_id)
    done, _ = await poll_to_end(runway, pending, REQUEST)
    assert done.provider_charge == 50


@pytest.mark.parametrize(
    ("failure_code", "charged", "error_type", "reason"),
    [
        ("INTERNAL.BAD_OUTPUT.CODE01", False, ProviderTaskFailed, "upstream_failed"),
        ("SAFETY.INPUT.TEXT", False, ProviderRejected, "content_policy"),
        ("INPUT_PREPROCESSING.SAFETY.IMAGE", False, ProviderRejected, "content_policy"),
        ("ASSET.INVALID", False, ProviderRejected, "invalid_input"),
        ("INTERNAL", True, ProviderTaskFailed, "upstream_failed"),
    ],
)
async def test_a_failed_task_is_final_with_runways_code_and_charge(
        runway: RunwayProvider, fake_runway: FakeRunway, failure_code: str, charged: bool,
        error_type: type[ProviderError], reason: str) -> None:
    fake_runway.script(Accept(Task(waiting=0, running=(), fail=failure_code, cost=30, charge_failure=charged)))
    pending = await runway.submit(REQUEST)
    with pytest.raises(ProviderError) as caught:
        await runway.poll(pending, REQUEST)
    error = caught.value
    assert type(error) is error_type and not error.retryable
    assert error.details["reason"] == reason and error.details["provider_code"] == failure_code
    assert error.details["provider_charge"] == (30 if charged else 0)
    assert_safe(error, ENV["RUNWAYML_API_SECRET"])


async def test_cancelling_before_it_runs_stops_it_at_no_charge(runway: RunwayProvider, fake_runway: FakeRunway) -> None:
    fake_runway.script(Accept(Task(waiting=5)))
    pending = await runway.submit(REQUEST)
    assert await runway.cancel(pending) is True
    (delete,) = sent(fake_runway, "DELETE")
    assert delete["path"] == f"/v1/tasks/{pending.upstream_id}"
    task = fake_runway.tasks[pending.upstream_id]
    assert task.cancelled and task.charged_on_cancel == 0
    with pytest.raises(ProviderTaskFailed) as caught:
        await runway.poll(pending, REQUEST)
    assert caught.value.details["reason"] == "cancelled" and caught.value.details["provider_charge"] == 0


async def test_a_running_task_is_not_cancelled_and_goes_on_to_deliver(
        runway: RunwayProvider, fake_runway: FakeRunway) -> None:
    fake_runway.script(Accept(Task(waiting=0, running=(0.2, 0.4, 0.8))))
    pending = await runway.poll(await runway.submit(REQUEST), REQUEST)
    assert isinstance(pending, Pending) and pending.state["status"] == "RUNNING"
    assert await runway.cancel(pending) is False
    assert sent(fake_runway, "DELETE") == []  # deleting now would be billed and deliver nothing
    done, _ = await poll_to_end(runway, pending, REQUEST)
    assert done.provider_charge == 50


async def test_a_task_that_starts_as_it_is_cancelled_is_reported_charged(
        runway: RunwayProvider, fake_runway: FakeRunway) -> None:
    fake_runway.script(Accept(Task(waiting=5, starts_on_delete=True, cost=25)))
    pending = await runway.submit(REQUEST)
    assert await runway.cancel(pending) is False  # Runway billed it: not a free cancellation
    with pytest.raises(ProviderTaskFailed) as caught:
        await runway.poll(pending, REQUEST)
    assert caught.value.details == {"provider": "video", "reason": "cancelled", "provider_charge": 25}


@pytest.mark.parametrize("lost", [AcceptThenHang, AcceptThenCut])
async def test_an_accepted_create_whose_answer_never_comes_is_sent_once_and_unknown(
        fake_runway: FakeRunway, lost: type[AcceptThenHang | AcceptThenCut]) -> None:
    providers = registry(config(fake_runway.url, timeout_seconds=0.5, max_retries=3), ENV)
    runway = providers.get("video").provider
    fake_runway.script(lost(Task()))
    try:
        with pytest.raises(ProviderOutcomeUnknown) as caught:
            await runway.submit(REQUEST)
    finally:
        await providers.aclose()
    assert caught.value.code == "provider_outcome_unknown" and not caught.value.retryable
    # The SDK would resend a timed-out POST (max_retries=3 here for reads): creates must not be.
    assert len(fake_runway.creates()) == 1 and len(fake_runway.tasks) == 1
    assert_safe(caught.value, ENV["RUNWAYML_API_SECRET"])


@pytest.mark.parametrize(
    ("status", "error_code", "retryable"),
    [
        (400, "provider_rejected", False),
        (401, "provider_error", False),
        (404, "provider_rejected", False),
        (429, "provider_error", True),
        (500, "provider_error", True),
        (502, "provider_error", True),
        (503, "provider_error", True),
        (504, "provider_outcome_unknown", False),
    ],
)
async def test_create_errors_are_classified_and_never_resent(
        fake_runway: FakeRunway, status: int, error_code: str, retryable: bool) -> None:
    providers = registry(config(fake_runway.url, timeout_seconds=2, max_retries=3), ENV)
    fake_runway.script(Refuse(status, headers={"retry-after-ms": "1"}))
    try:
        with pytest.raises(ProviderError) as caught:
            await providers.get("video").provider.submit(REQUEST)
    finally:
        await providers.aclose()
    assert (caught.value.code, caught.value.retryable) == (error_code, retryable)
    assert len(fake_runway.creates()) == 1
    assert_safe(caught.value, ENV["RUNWAYML_API_SECRET"])


async def test_an_unreadable_200_to_a_create_is_an_unknown_outcome(
        runway: RunwayProvider, fake_runway: FakeRunway) -> None:
    fake_runway.script(Garbage())
    with pytest.raises(ProviderOutcomeUnknown):
        await runway.submit(REQUEST)
    assert len(fake_runway.creates()) == 1


async def test_reads_use_the_configured_retries(fake_runway: FakeRunway) -> None:
    providers = registry(config(fake_runway.url, timeout_seconds=2, max_retries=1), ENV)
    runway = providers.get("video").provider
    try:
        pending = await runway.submit(REQUEST)
        fake_runway.fail_polls(Refuse(503, headers={"retry-after-ms": "1"}))
        outcome = await runway.poll(pending, REQUEST)  # the SDK retried the GET once
        fake_runway.fail_polls(Refuse(500), Refuse(500))
        with pytest.raises(ProviderError) as caught:
            await runway.poll(pending, REQUEST)
    finally:
        await providers.aclose()
    assert isinstance(outcome, Pending)
    assert caught.value.retryable and caught.value.upstream_status == 500


@pytest.mark.parametrize("status", [400, 401, 404])
async def test_a_failed_status_request_never_ends_the_job(
        runway: RunwayProvider, fake_runway: FakeRunway, status: int) -> None:
    """Only Runway's task status ends a job: a refused status request is asked again later."""
    pending = await runway.submit(REQUEST)
    fake_runway.fail_polls(Refuse(status))
    with pytest.raises(ProviderError) as caught:
        await runway.poll(pending, REQUEST)
    assert caught.value.code == "provider_error" and caught.value.retryable
    assert caught.value.upstream_status == status and caught.value.details["during"] == "poll"
    with pytest.raises(ProviderError) as unknown:
        await runway.poll(Pending("no-such-task"), REQUEST)
    assert unknown.value.retryable and unknown.value.upstream_status == 404
    done, _ = await poll_to_end(runway, pending, REQUEST)
    assert done.provider_charge == 50


async def test_a_wrong_key_is_refused_and_never_shown(fake_runway: FakeRunway) -> None:
    providers = registry(config(fake_runway.url), {"RUNWAYML_API_SECRET": "key_wrong_one"})
    try:
        with pytest.raises(ProviderError) as caught:
            await providers.get("video").provider.submit(REQUEST)
    finally:
        await providers.aclose()
    assert caught.value.upstream_status == 401 and not caught.value.retryable
    assert fake_runway.tasks == {}
    assert_safe(caught.value, "key_wrong_one", ENV["RUNWAYML_API_SECRET"])


async def test_a_create_that_cannot_connect_is_retryable() -> None:
    providers = registry(config(f"http://127.0.0.1:{free_port()}", timeout_seconds=2), ENV)
    try:
        with pytest.raises(ProviderError) as caught:
            await providers.get("video").provider.submit(REQUEST)
    finally:
        await providers.aclose()
    assert caught.value.code == "provider_error" and caught.value.retryable
    assert caught.value.details["reason"] == "connection"


def test_the_registry_needs_the_key() -> None:
    entry = registry(config("http://127.0.0.1:9"), {}).get("video")
    assert not entry.available and entry.reason == "RUNWAYML_API_SECRET is not set"
