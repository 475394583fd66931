"""OpenAI Images through the real SDK against the loopback fake, built from config by the registry."""

from __future__ import annotations

import contextlib
import io
import json
import random
from collections.abc import AsyncIterator
from typing import Any

import pytest
from PIL import Image

from smarthub_mcp.config import Settings
from smarthub_mcp.errors import ProviderError, ProviderOutcomeUnknown, ProviderRejected
from smarthub_mcp.providers.base import ChatMessage, ChatRequest, Usage
from smarthub_mcp.providers.media import Finished, ImageRequest
from smarthub_mcp.providers.registry import ProviderRegistry
from smarthub_mcp.providers.router import Router
from tests.conftest import free_port
from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.script import Fail, Hang, ImagesReply, Malformed
from tests.fakes.stability_server import FakeStability

REQUEST = ImageRequest(prompt="a lighthouse at dusk", size="256x192", count=2, negative_prompt="fog", seed=5,
                       upstream="gpt-image-2")


def openai_config(base_url: str, **overrides: Any) -> dict[str, Any]:
    # max_retries=2 is the chat side's setting: image generations must ignore it.
    return {"type": "openai", "base_url": base_url, "api_key_env": "OPENAI_API_KEY", "max_retries": 2,
            "media_timeout_seconds": 10, **overrides}


@contextlib.asynccontextmanager
async def provider_for(fake: FakeOpenAI, **overrides: Any) -> AsyncIterator[Any]:
    settings = Settings(providers={"openai": openai_config(fake.url + "/v1", **overrides)})
    registry = ProviderRegistry.from_settings(settings, env={"OPENAI_API_KEY": fake.api_key})
    try:
        entry = registry.get("openai")
        assert entry.capabilities == {"chat", "image"}
        yield entry.provider
    finally:
        await registry.aclose()


async def failure_of(fake: FakeOpenAI, behaviour: object, request: ImageRequest = REQUEST,
                     **overrides: Any) -> ProviderError:
    fake.script(behaviour)  # type: ignore[arg-type]
    async with provider_for(fake, **overrides) as provider:
        with pytest.raises(ProviderError) as info:
            await provider.submit(request)
    return info.value


def assert_safe(error: ProviderError, fake: FakeOpenAI) -> None:
    """Nothing of the provider's body or our key in what a user or a log sees."""
    shown = json.dumps(error.to_dict())
    assert fake.api_key not in shown and "fake failure" not in shown


async def test_gpt_image_answer_gives_pngs_and_the_reported_usage(fake_openai: FakeOpenAI) -> None:
    fake_openai.script(ImagesReply(input_tokens=14, output_tokens=544))
    async with provider_for(fake_openai) as provider:
        outcome = await provider.submit(REQUEST)
    assert isinstance(outcome, Finished)
    assert (len(outcome.outputs), outcome.flagged, outcome.failed) == (2, 0, 0)
    assert outcome.usage == Usage(input_tokens=14, output_tokens=544)
    for output in outcome.outputs:
        assert (output.content_type, output.width, output.height, output.url) == ("image/png", 256, 192, None)
        assert Image.open(io.BytesIO(output.data)).size == (256, 192)
    [sent] = fake_openai.requests
    assert sent["path"] == "/v1/images/generations"
    assert sent["body"] == {"model": "gpt-image-2", "prompt": "a lighthouse at dusk", "n": 2, "size": "256x192"}
    assert sent["headers"]["authorization"] == f"Bearer {fake_openai.api_key}"
    assert sent["headers"]["x-stainless-retry-count"] == "0"


async def test_url_answers_are_outputs_to_fetch_and_carry_no_usage(fake_openai: FakeOpenAI) -> None:
    fake_openai.script(ImagesReply(mode="url"))
    async with provider_for(fake_openai) as provider:
        outcome = await provider.submit(ImageRequest(prompt="p", size="1024x1024", upstream="dall-e-3"))
    assert isinstance(outcome, Finished) and outcome.usage is None
    [output] = outcome.outputs
    assert output.data is None and output.url == f"{fake_openai.url}/files/1024x1024-0.png"


async def test_fewer_images_than_asked_count_as_failed(fake_openai: FakeOpenAI) -> None:
    fake_openai.script(ImagesReply(images=1))
    async with provider_for(fake_openai) as provider:
        outcome = await provider.submit(ImageRequest(prompt="p", size="64x64", count=3, upstream="gpt-image-2"))
    assert isinstance(outcome, Finished)
    assert (len(outcome.outputs), outcome.failed) == (1, 2)


async def test_one_provider_serves_chat_and_images(fake_openai: FakeOpenAI) -> None:
    async with provider_for(fake_openai) as provider:
        chat = await provider.complete(ChatRequest(messages=(ChatMessage("user", "hi"),), upstream="gpt-4o-mini"))
        outcome = await provider.submit(ImageRequest(prompt="p", size="32x32", upstream="gpt-image-2"))
    assert chat.text and isinstance(outcome, Finished) and len(outcome.outputs) == 1
    assert [r["path"] for r in fake_openai.requests] == ["/v1/chat/completions", "/v1/images/generations"]


@pytest.mark.parametrize("code", ["moderation_blocked", "content_policy_violation"])
async def test_content_policy_refusal_is_final(fake_openai: FakeOpenAI, code: str) -> None:
    error = await failure_of(fake_openai, Fail(400, "image_generation_user_error", code))
    assert isinstance(error, ProviderRejected)
    assert (error.code, error.retryable, error.details["reason"]) == ("provider_rejected", False, "content_policy")
    assert len(fake_openai.requests) == 1
    assert_safe(error, fake_openai)


@pytest.mark.parametrize(
    ("behaviour", "status", "retryable", "reason"),
    [
        (Fail(429, "requests", "rate_limit_exceeded", headers={"retry-after": "7"}), 429, True, None),
        (Fail(500), 500, True, None),
        (Fail(503), 503, True, None),
        (Fail(504), None, False, "gateway_timeout"),  # the gateway gave up; the generation may go on
        (Fail(400, "invalid_request_error", "invalid_size"), 400, False, None),
        (Fail(401, "invalid_request_error", "invalid_api_key"), 401, False, None),
        (Malformed(), None, True, "malformed"),
        (ImagesReply(images=0), None, True, "malformed"),
    ],
)
async def test_failures_are_classified_and_never_resent(fake_openai: FakeOpenAI, behaviour: object,
                                                        status: int | None, retryable: bool,
                                                        reason: str | None) -> None:
    error = await failure_of(fake_openai, behaviour)
    assert (error.upstream_status, error.retryable) == (status, retryable)
    assert error.details.get("reason") == reason
    assert len(fake_openai.requests) == 1  # the SDK's retries are off although max_retries=2
    assert_safe(error, fake_openai)
    if status == 429:
        assert error.retry_after == 7


async def test_a_generate_that_times_out_after_it_was_sent_is_not_sent_again(fake_openai: FakeOpenAI) -> None:
    error = await failure_of(fake_openai, Hang(), media_timeout_seconds=0.5)
    assert isinstance(error, ProviderOutcomeUnknown) and not error.retryable
    assert (error.code, error.details["reason"], error.upstream_status) == ("provider_outcome_unknown", "no_answer",
                                                                            None)
    assert len(fake_openai.requests) == 1
    assert_safe(error, fake_openai)


async def test_a_refused_connection_sent_nothing_and_may_go_elsewhere() -> None:
    class Nowhere:
        url = f"http://127.0.0.1:{free_port()}"
        api_key = "test-key"

    settings = Settings(providers={"openai": openai_config(Nowhere.url + "/v1")})
    registry = ProviderRegistry.from_settings(settings, env={"OPENAI_API_KEY": Nowhere.api_key})
    try:
        with pytest.raises(ProviderError) as info:
            await registry.get("openai").provider.submit(REQUEST)
    finally:
        await registry.aclose()
    assert info.value.retryable and info.value.details["reason"] == "connection"


def two_route_router(openai: FakeOpenAI, stability: FakeStability, **openai_overrides: Any) -> Router:
    settings = Settings(
        providers={"openai": openai_config(openai.url + "/v1", **openai_overrides),
                   "stability": {"type": "stability", "base_url": stability.url, "api_key_env": "STABILITY_API_KEY"}},
        models={"pic": {"kind": "image", "routes": [{"provider": "openai", "upstream": "gpt-image-2", "priority": 0},
                                                   {"provider": "stability", "upstream": "core", "priority": 1}]}},
    )
    env = {"OPENAI_API_KEY": openai.api_key, "STABILITY_API_KEY": stability.api_key}
    return Router(settings, ProviderRegistry.from_settings(settings, env=env), rng=random.Random(1))


async def test_router_falls_back_on_a_5xx_but_never_after_an_unknown_outcome(
    fake_openai: FakeOpenAI, fake_stability: FakeStability
) -> None:
    router = two_route_router(fake_openai, fake_stability, media_timeout_seconds=0.5)
    request = ImageRequest(prompt="a kite", size="1024x1024")
    try:
        fake_openai.script(Fail(500))
        answered = await router.call("pic", "image", lambda p, r: p.submit(request.for_upstream(r.upstream)))
        assert answered.route.provider == "stability" and [a.ok for a in answered.attempts] == [False, True]
        assert len(fake_stability.requests) == 1

        fake_openai.script(Hang())
        with pytest.raises(ProviderError) as info:
            await router.call("pic", "image", lambda p, r: p.submit(request.for_upstream(r.upstream)))
        assert isinstance(info.value, ProviderOutcomeUnknown)
        assert len(fake_openai.requests) == 2 and len(fake_stability.requests) == 1  # nothing sent elsewhere
    finally:
        await router.aclose()
