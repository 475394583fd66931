"""The Stability v2beta adapter against the loopback fake, built from config by the registry."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

import anyio
import pytest

from smarthub_mcp.config import Settings
from smarthub_mcp.errors import InvalidRequest, ProviderError, ProviderOutcomeUnknown, ProviderRejected
from smarthub_mcp.providers.media import Finished, ImageRequest
from smarthub_mcp.providers.registry import ProviderRegistry
from smarthub_mcp.providers.stability import PARALLEL, aspect_ratio
from tests.fakes.script import Fail, Gate, Hang, Malformed, Shot
from tests.fakes.stability_server import FakeStability

FILTERED = Shot(finish="CONTENT_FILTERED")


def request(count: int = 1, upstream: str = "core", **fields: Any) -> ImageRequest:
    return ImageRequest(**{"prompt": "a red fox in snow", "size": "1024x1024", "count": count,
                           "upstream": upstream, **fields})


@contextlib.asynccontextmanager
async def provider_for(fake: FakeStability, key: str | None = None, **overrides: Any) -> AsyncIterator[Any]:
    config = {"type": "stability", "base_url": fake.url, "api_key_env": "STABILITY_API_KEY",
              "media_timeout_seconds": 10, **overrides}
    registry = ProviderRegistry.from_settings(Settings(providers={"stability": config}),
                                              env={"STABILITY_API_KEY": key or fake.api_key})
    try:
        entry = registry.get("stability")
        assert entry.available and entry.capabilities == {"image"}
        yield entry.provider
    finally:
        await registry.aclose()


async def submit(fake: FakeStability, image_request: ImageRequest, *behaviours: object, **overrides: Any) -> Any:
    fake.script(*behaviours)  # type: ignore[arg-type]
    async with provider_for(fake, **overrides) as provider:
        return await provider.submit(image_request)


async def failure_of(fake: FakeStability, image_request: ImageRequest, *behaviours: object,
                     **overrides: Any) -> ProviderError:
    with pytest.raises(ProviderError) as info:
        await submit(fake, image_request, *behaviours, **overrides)
    shown = json.dumps(info.value.to_dict())
    assert fake.api_key not in shown and "fake failure" not in shown and "a1b2c3d4" not in shown
    return info.value


def test_the_requested_size_becomes_the_nearest_aspect_ratio() -> None:
    assert [aspect_ratio(s) for s in ("1024x1024", "1000x990", "1920x1080", "1080x1920", "1536x1024",
                                      "1024x1536", "2560x1080", "800x1000", "1080x2560", "1200x1000")] == [
        "1:1", "1:1", "16:9", "9:16", "3:2", "2:3", "21:9", "4:5", "9:21", "5:4"]


async def test_one_image_is_one_multipart_request(fake_stability: FakeStability) -> None:
    outcome = await submit(fake_stability, request(size="1920x1080", negative_prompt="blur", seed=42))
    assert isinstance(outcome, Finished) and (outcome.flagged, outcome.failed, outcome.usage) == (0, 0, None)
    [output] = outcome.outputs
    assert (output.content_type, output.width, output.height) == ("image/png", 256, 144)
    assert output.data is not None and output.data.startswith(b"\x89PNG")
    [sent] = fake_stability.requests
    assert sent["path"] == "/v2beta/stable-image/generate/core" and sent["body"]["multipart"]
    assert {k: sent["body"][k] for k in ("prompt", "negative_prompt", "aspect_ratio", "seed", "output_format")} == {
        "prompt": "a red fox in snow", "negative_prompt": "blur", "aspect_ratio": "16:9", "seed": "42",
        "output_format": "png"}
    assert "model" not in sent["body"]
    assert sent["headers"]["accept"] == "image/*"
    assert sent["headers"]["authorization"] == f"Bearer {fake_stability.api_key}"


@pytest.mark.parametrize(("upstream", "endpoint", "model"),
                         [("ultra", "ultra", None), ("sd3", "sd3", None), ("sd3.5-large", "sd3", "sd3.5-large")])
async def test_the_upstream_names_the_endpoint_and_model(fake_stability: FakeStability, upstream: str,
                                                         endpoint: str, model: str | None) -> None:
    outcome = await submit(fake_stability, request(upstream=upstream))
    assert len(outcome.outputs) == 1
    [sent] = fake_stability.requests
    assert sent["body"]["endpoint"] == endpoint and sent["body"].get("model") == model


async def test_count_images_are_count_requests_with_successive_seeds(fake_stability: FakeStability) -> None:
    outcome = await submit(fake_stability, request(count=4, seed=7))
    assert len(outcome.outputs) == 4 and (outcome.flagged, outcome.failed) == (0, 0)
    assert sorted(int(r["body"]["seed"]) for r in fake_stability.requests) == [7, 8, 9, 10]


async def test_without_a_seed_stability_picks_one(fake_stability: FakeStability) -> None:
    await submit(fake_stability, request(count=2))
    assert all("seed" not in r["body"] for r in fake_stability.requests)


async def test_content_filtered_images_are_flagged_and_held_not_delivered(fake_stability: FakeStability) -> None:
    outcome = await submit(fake_stability, request(count=4), Shot(), FILTERED, Shot(), FILTERED)
    assert (len(outcome.outputs), outcome.flagged, outcome.failed) == (2, 2, 0)
    assert [h.flag for h in outcome.held] == ["content_filtered"] * 2 and all(h.data for h in outcome.held)
    assert len(fake_stability.requests) == 4


async def test_all_filtered_is_a_finished_job_with_nothing_delivered(fake_stability: FakeStability) -> None:
    outcome = await submit(fake_stability, request(count=2), FILTERED, FILTERED)
    assert isinstance(outcome, Finished) and (outcome.outputs, outcome.flagged, outcome.failed) == ((), 2, 0)


async def test_a_partial_failure_delivers_the_rest_and_counts_the_failure(fake_stability: FakeStability) -> None:
    outcome = await submit(fake_stability, request(count=4), Shot(), Fail(500), FILTERED, Shot())
    assert (len(outcome.outputs), outcome.flagged, outcome.failed) == (2, 1, 1)
    assert len(fake_stability.requests) == 4  # each image asked once; the failed one not again


async def test_a_moderation_refusal_beside_delivered_images_counts_as_flagged(fake_stability: FakeStability) -> None:
    outcome = await submit(fake_stability, request(count=2), Fail(403, "content_moderation"), Shot())
    assert (len(outcome.outputs), outcome.flagged, outcome.failed) == (1, 1, 0)


@pytest.mark.parametrize(
    ("behaviour", "status", "retryable", "reason", "rejected"),
    [
        (Fail(403, "content_moderation", "fake failure: flagged"), 403, False, "content_policy", True),
        (Fail(400, "bad_request", "fake failure: prompt too long"), 400, False, None, True),
        (Fail(413, "payload_too_large"), 413, False, None, True),
        (Fail(401, "unauthorized"), 401, False, None, False),
        (Fail(403, "forbidden"), 403, False, None, False),
        (Fail(429, "rate_limit_exceeded", headers={"retry-after": "3"}), 429, True, None, False),
        (Fail(500), 500, True, None, False),
        (Fail(504, "gateway_timeout"), None, False, "gateway_timeout", False),
        (Malformed(), None, True, "malformed", False),
    ],
)
async def test_errors_have_stable_codes_and_no_provider_text(fake_stability: FakeStability, behaviour: object,
                                                             status: int | None, retryable: bool,
                                                             reason: str | None, rejected: bool) -> None:
    error = await failure_of(fake_stability, request(), behaviour)
    assert (error.upstream_status, error.retryable, error.details.get("reason")) == (status, retryable, reason)
    assert isinstance(error, ProviderRejected) == rejected
    assert error.code == ("provider_rejected" if rejected else
                          "provider_outcome_unknown" if reason == "gateway_timeout" else "provider_error")
    assert len(fake_stability.requests) == 1


async def test_a_wrong_key_is_refused_without_showing_it(fake_stability: FakeStability) -> None:
    error = await failure_of(fake_stability, request(), key="sk-wrong-0123456789")
    assert error.upstream_status == 401 and not error.retryable
    assert "sk-wrong-0123456789" not in json.dumps(error.to_dict())


async def test_when_nothing_is_produced_every_image_failing_raises_one_error(fake_stability: FakeStability) -> None:
    error = await failure_of(fake_stability, request(count=3), Fail(500), Fail(502), Fail(503))
    assert error.retryable  # the router may try the next route
    assert len(fake_stability.requests) == 3


async def test_an_unknown_outcome_outranks_other_failures(fake_stability: FakeStability) -> None:
    error = await failure_of(fake_stability, request(count=3), Fail(500), Fail(504), Fail(400, "bad_request"))
    assert isinstance(error, ProviderOutcomeUnknown)  # one image may exist and be billed: keep the hold


async def test_after_a_final_refusal_no_further_image_is_sent(fake_stability: FakeStability) -> None:
    """The first PARALLEL requests are refused; the remaining two would be too, and are never sent
    (without the bound or the stop they would be, and would succeed)."""
    refusals = [Fail(400, "bad_request")] * PARALLEL
    error = await failure_of(fake_stability, request(count=PARALLEL + 2), *refusals)
    assert isinstance(error, ProviderRejected)
    assert len(fake_stability.requests) == PARALLEL


async def test_a_request_not_answered_in_time_is_not_sent_again(fake_stability: FakeStability) -> None:
    error = await failure_of(fake_stability, request(), Hang(), media_timeout_seconds=0.5)
    assert isinstance(error, ProviderOutcomeUnknown) and not error.retryable
    assert (error.code, error.details["reason"]) == ("provider_outcome_unknown", "no_answer")
    assert len(fake_stability.requests) == 1


async def test_an_unknown_outcome_beside_a_delivered_image_is_a_failed_image(fake_stability: FakeStability) -> None:
    outcome = await submit(fake_stability, request(count=2), Hang(), Shot(), media_timeout_seconds=0.5)
    assert (len(outcome.outputs), outcome.flagged, outcome.failed) == (1, 0, 1)
    assert len(fake_stability.requests) == 2


async def test_slow_generations_run_side_by_side_and_are_awaited(fake_stability: FakeStability) -> None:
    gates = [Gate(after=0), Gate(after=0)]
    fake_stability.script(*(Shot(gate=g) for g in gates))
    async with provider_for(fake_stability) as provider:
        task = asyncio.create_task(provider.submit(request(count=2)))
        with anyio.fail_after(10):
            for gate in gates:
                await gate.reached.wait()  # both held at once: the two requests are in flight together
        assert not task.done()
        for gate in gates:
            gate.release.set()
        with anyio.fail_after(10):
            outcome = await task
    assert len(outcome.outputs) == 2 and len(fake_stability.requests) == 2


@pytest.mark.parametrize("size", ["0x10", "10x0", "wide", "x"])
async def test_a_size_that_is_not_one_is_the_callers_error_and_sends_nothing(fake_stability: FakeStability,
                                                                            size: str) -> None:
    with pytest.raises(InvalidRequest):
        await submit(fake_stability, request(size=size))
    assert fake_stability.requests == []
