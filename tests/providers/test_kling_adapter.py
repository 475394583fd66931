"""The Kling adapter against a loopback Kling server, built through the adapter table and registry."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from smarthub_mcp.errors import ProviderError, ProviderOutcomeUnknown, ProviderRejected, ProviderTaskFailed
from smarthub_mcp.providers.kling import TOKEN_SECONDS, KlingProvider, token
from smarthub_mcp.providers.media import Pending, VideoRequest
from tests.conftest import free_port
from tests.fakes.kling_server import FakeKling
from tests.fakes.video_script import Accept, AcceptThenCut, AcceptThenHang, Garbage, Refuse, Task
from tests.providers.video import assert_real_mp4, assert_safe, fetch, poll_to_end, registry

ENV = {"KLING_ACCESS_KEY": "ak-test", "KLING_SECRET_KEY": "sk-test-secret-0123456789abcdef-kling"}
REQUEST = VideoRequest(prompt="a red kite over the sea", duration_seconds=5, aspect_ratio="9:16", mode="pro",
                       negative_prompt="blur", seed=7, external_id="job_123", upstream="kling-v2-6")


def config(url: str, **extra: Any) -> dict[str, Any]:
    return {"type": "kling", "base_url": url, "api_key_env": "KLING_ACCESS_KEY",
            "secret_key_env": "KLING_SECRET_KEY", **extra}


@pytest.fixture
async def kling(fake_kling: FakeKling) -> AsyncIterator[KlingProvider]:
    providers = registry(config(fake_kling.url, timeout_seconds=2), ENV)
    entry = providers.get("video")
    assert entry.capabilities == {"video"} and entry.available
    yield entry.provider
    await providers.aclose()


def secrets_of(fake: FakeKling) -> tuple[str, ...]:
    bearers = tuple(r["headers"].get("authorization", "").partition(" ")[2] for r in fake.requests)
    return (ENV["KLING_ACCESS_KEY"], ENV["KLING_SECRET_KEY"], *(b for b in bearers if b))


async def test_text_to_video_runs_to_a_real_mp4(kling: KlingProvider, fake_kling: FakeKling) -> None:
    fake_kling.script(Accept(Task(waiting=1, running=(0.3, 0.7))))
    first = await kling.submit(REQUEST)
    assert isinstance(first, Pending) and first.state == {"kind": "text2video", "status": "submitted", "progress": "0"}

    done, seen = await poll_to_end(kling, first, REQUEST)

    assert [p.state.get("status") for p in seen] == ["submitted", "submitted", "processing", "processing"]
    assert [p.state.get("progress") for p in seen] == ["0", "0", None, None]  # Kling reports no percentage
    assert done.seconds == pytest.approx(5.1) and done.provider_charge is None
    (output,) = done.outputs
    assert output.content_type == "video/mp4" and output.url and output.url.startswith(fake_kling.url)
    assert_real_mp4(await fetch(output.url))
    (create,) = fake_kling.creates()
    assert create["path"] == "/v1/videos/text2video"
    assert create["body"] == {"model_name": "kling-v2-6", "prompt": "a red kite over the sea", "mode": "pro",
                              "duration": "5", "aspect_ratio": "9:16", "negative_prompt": "blur",
                              "external_task_id": "job_123"}
    polls = [r["path"] for r in fake_kling.requests if r["method"] == "GET" and r["path"].startswith("/v1/")]
    assert polls == [f"/v1/videos/text2video/{first.upstream_id}"] * 4


async def test_every_request_carries_a_fresh_short_lived_jwt(kling: KlingProvider, fake_kling: FakeKling) -> None:
    first = await kling.submit(REQUEST)
    await poll_to_end(kling, first, REQUEST)
    assert len(fake_kling.tokens) == len([r for r in fake_kling.requests if r["path"].startswith("/v1/")])
    for claims in fake_kling.tokens:
        assert claims["iss"] == ENV["KLING_ACCESS_KEY"]
        assert claims["exp"] - claims["nbf"] == TOKEN_SECONDS + 5
        assert claims["nbf"] <= time.time() < claims["exp"]


async def test_a_start_image_makes_it_image_to_video(kling: KlingProvider, fake_kling: FakeKling) -> None:
    request = VideoRequest(prompt="make it move", duration_seconds=10, start_image_url="https://img.example/cat.png",
                           upstream="kling-v2-1")
    first = await kling.submit(request)
    assert isinstance(first, Pending) and first.state["kind"] == "image2video"
    done, _ = await poll_to_end(kling, first, request)
    assert len(done.outputs) == 1
    (create,) = fake_kling.creates()
    assert create["path"] == "/v1/videos/image2video"
    assert create["body"]["image"] == "https://img.example/cat.png" and "aspect_ratio" not in create["body"]
    assert create["body"]["duration"] == "10" and create["body"]["mode"] == "std"


async def test_a_slow_job_stays_processing_until_it_is_done(kling: KlingProvider, fake_kling: FakeKling) -> None:
    fake_kling.script(Accept(Task(waiting=0, running=(0.5,), hold=True)))
    pending = await kling.submit(REQUEST)
    for _ in range(6):
        pending = await kling.poll(pending, REQUEST)
        assert isinstance(pending, Pending) and pending.state["status"] == "processing"
    fake_kling.release(pending.upstream_id)
    done, _ = await poll_to_end(kling, pending, REQUEST)
    assert done.outputs


async def test_a_task_failed_upstream_is_final_and_says_nothing_of_kling_text(
        kling: KlingProvider, fake_kling: FakeKling) -> None:
    fake_kling.script(Accept(Task(waiting=0, running=(), fail="risk")))
    pending = await kling.submit(REQUEST)
    with pytest.raises(ProviderTaskFailed) as caught:
        await kling.poll(pending, REQUEST)
    assert caught.value.code == "provider_task_failed" and not caught.value.retryable
    assert_safe(caught.value, *secrets_of(fake_kling))


async def test_kling_cannot_cancel(kling: KlingProvider, fake_kling: FakeKling) -> None:
    pending = await kling.submit(REQUEST)
    before = len(fake_kling.requests)
    assert await kling.cancel(pending) is False
    assert len(fake_kling.requests) == before  # nothing sent: there is no endpoint for it


@pytest.mark.parametrize("lost", [AcceptThenHang, AcceptThenCut])
async def test_an_accepted_create_whose_answer_never_comes_is_an_unknown_outcome(
        fake_kling: FakeKling, lost: type[AcceptThenHang | AcceptThenCut]) -> None:
    providers = registry(config(fake_kling.url, timeout_seconds=0.5), ENV)
    kling = providers.get("video").provider
    fake_kling.script(lost(Task()))
    try:
        with pytest.raises(ProviderOutcomeUnknown) as caught:
            await kling.submit(REQUEST)
    finally:
        await providers.aclose()
    assert caught.value.code == "provider_outcome_unknown" and not caught.value.retryable
    assert len(fake_kling.creates()) == 1 and len(fake_kling.tasks) == 1  # Kling has it; we did not resend
    (task,) = fake_kling.tasks.values()
    assert task.body["external_task_id"] == "job_123"  # findable at Kling by our job id
    assert_safe(caught.value, *secrets_of(fake_kling))


@pytest.mark.parametrize(
    ("status", "code", "error_code", "retryable"),
    [
        (400, 1201, "provider_rejected", False),
        (400, 1301, "provider_rejected", False),
        (401, 1000, "provider_error", False),
        (403, 1103, "provider_error", False),
        (429, 1102, "provider_unavailable", True),
        (429, 1302, "provider_error", True),
        (429, 1303, "provider_error", True),
        (500, 5000, "provider_error", True),
        (503, 5001, "provider_error", True),
        (502, None, "provider_error", True),
        (504, 5002, "provider_outcome_unknown", False),
    ],
)
async def test_create_errors_are_classified_and_sent_once(
        kling: KlingProvider, fake_kling: FakeKling, status: int, code: int | None, error_code: str,
        retryable: bool) -> None:
    fake_kling.script(Refuse(status, code, headers={"retry-after": "3"}))
    with pytest.raises(ProviderError) as caught:
        await kling.submit(REQUEST)
    error = caught.value
    assert (error.code, error.retryable) == (error_code, retryable)
    assert len(fake_kling.creates()) == 1
    if code is not None and error_code != "provider_outcome_unknown":
        assert error.details["provider_code"] == code
    if code == 1301:
        assert error.details["reason"] == "content_policy"
    if code in (1302, 1303):
        assert error.retry_after == 3
    assert_safe(error, *secrets_of(fake_kling))


async def test_an_unreadable_200_to_a_create_is_an_unknown_outcome(kling: KlingProvider, fake_kling: FakeKling) -> None:
    fake_kling.script(Garbage())
    with pytest.raises(ProviderOutcomeUnknown):
        await kling.submit(REQUEST)
    assert len(fake_kling.creates()) == 1


async def test_a_failing_poll_is_retryable_and_the_next_one_goes_on(
        kling: KlingProvider, fake_kling: FakeKling) -> None:
    pending = await kling.submit(REQUEST)
    fake_kling.fail_polls(Refuse(500, 5000))
    with pytest.raises(ProviderError) as caught:
        await kling.poll(pending, REQUEST)
    assert caught.value.retryable
    done, _ = await poll_to_end(kling, pending, REQUEST)
    assert done.outputs


@pytest.mark.parametrize(("status", "code"), [(404, 1203), (401, 1004), (400, 1201)])
async def test_a_failed_status_request_never_ends_the_job(
        kling: KlingProvider, fake_kling: FakeKling, status: int, code: int) -> None:
    """Only Kling's task status ends a job: a refused status request (a task not visible, a key
    rotated) is asked again later, never taken as a failure to refund while Kling may bill."""
    pending = await kling.submit(REQUEST)
    fake_kling.fail_polls(Refuse(status, code))
    with pytest.raises(ProviderError) as caught:
        await kling.poll(pending, REQUEST)
    assert caught.value.code == "provider_error" and caught.value.retryable
    assert caught.value.details["provider_code"] == code and caught.value.details["during"] == "poll"
    with pytest.raises(ProviderError) as unknown:
        await kling.poll(Pending("404404", {"kind": "text2video"}), REQUEST)
    assert unknown.value.retryable and unknown.value.details["provider_code"] == 1203
    assert_safe(caught.value, *secrets_of(fake_kling))


async def test_a_wrong_secret_is_refused_with_401_and_never_shown(fake_kling: FakeKling) -> None:
    providers = registry(config(fake_kling.url), {**ENV, "KLING_SECRET_KEY": "not-the-secret-but-just-as-long-as-one"})
    try:
        with pytest.raises(ProviderError) as caught:
            await providers.get("video").provider.submit(REQUEST)
    finally:
        await providers.aclose()
    assert caught.value.upstream_status == 401 and not caught.value.retryable
    assert caught.value.details["provider_code"] == 1002
    assert fake_kling.tasks == {}
    assert_safe(caught.value, "not-the-secret-but-just-as-long-as-one", *secrets_of(fake_kling))


async def test_the_fake_refuses_an_expired_token(fake_kling: FakeKling) -> None:
    expired = token(ENV["KLING_ACCESS_KEY"], ENV["KLING_SECRET_KEY"], now=time.time() - TOKEN_SECONDS - 60)
    async with httpx.AsyncClient(base_url=fake_kling.url) as client:
        answer = await client.post("/v1/videos/text2video", json={}, headers={"Authorization": f"Bearer {expired}"})
    assert answer.status_code == 401 and answer.json()["code"] == 1004
    assert fake_kling.tasks == {}


async def test_unsupported_durations_are_refused_before_sending(kling: KlingProvider, fake_kling: FakeKling) -> None:
    with pytest.raises(ProviderRejected) as caught:
        await kling.submit(VideoRequest(prompt="x", duration_seconds=7, upstream="kling-v2-6"))
    assert caught.value.details["reason"] == "duration"
    assert fake_kling.requests == []


async def test_a_create_that_cannot_connect_is_retryable() -> None:
    providers = registry(config(f"http://127.0.0.1:{free_port()}"), ENV)
    try:
        with pytest.raises(ProviderError) as caught:
            await providers.get("video").provider.submit(REQUEST)
    finally:
        await providers.aclose()
    assert caught.value.code == "provider_error" and caught.value.retryable
    assert caught.value.details["reason"] == "connection"


def test_the_registry_needs_both_keys() -> None:
    no_secret = registry(config("http://127.0.0.1:9"), {"KLING_ACCESS_KEY": "ak"}).get("video")
    assert not no_secret.available and no_secret.reason == "KLING_SECRET_KEY is not set"
    unnamed = registry({"type": "kling", "api_key_env": "KLING_ACCESS_KEY"}, ENV).get("video")
    assert not unnamed.available and unnamed.reason == "provider 'video' has no secret_key_env configured"
