"""The generic router on media: the adapter table, capability routing, the demo image provider."""

from __future__ import annotations

import io
import random

import pytest
from PIL import Image

from smarthub_mcp.config import Settings
from smarthub_mcp.errors import InvalidRequest, ProviderError, ProviderUnavailable
from smarthub_mcp.providers.adapters import ADAPTERS
from smarthub_mcp.providers.demo_image import DemoImageProvider
from smarthub_mcp.providers.media import Finished, ImageRequest
from smarthub_mcp.providers.registry import ProviderRegistry
from smarthub_mcp.providers.router import Router


def settings(**providers: dict) -> Settings:
    return Settings(
        providers={"pics": {"type": "demo-image"}, "planned": {"type": "someday", "api_key_env": "SOMEDAY_KEY"},
                   "chatty": {"type": "demo"}, **providers},
        models={
            "img": {"kind": "image", "routes": [{"provider": "planned", "upstream": "flux", "priority": 0},
                                                 {"provider": "pics", "upstream": "d1", "priority": 1}]},
            "only-planned": {"kind": "image", "routes": [{"provider": "planned", "upstream": "flux"}]},
            "wrong-cap": {"kind": "image", "routes": [{"provider": "chatty", "upstream": "x"}]},
            "c": {"kind": "chat", "routes": [{"provider": "chatty", "upstream": "demo-chat-1"}]},
        },
        router={"circuit_failures": 2},
    )


@pytest.fixture
async def router():
    router = Router(settings(), ProviderRegistry.from_settings(settings(), env={}), rng=random.Random(1))
    yield router
    await router.aclose()


def test_every_adapter_names_capabilities_and_a_key_rule() -> None:
    assert {"demo", "demo-image", "demo-video", "openai", "anthropic", "fal", "kie", "kling", "runway"} <= set(ADAPTERS)
    for adapter in ADAPTERS.values():
        assert adapter.capabilities and adapter.capabilities <= {"chat", "image", "video"}
        assert adapter.key in ("required", "base_url", "none", "pair")


def test_list_models_says_why_an_image_model_cannot_run(router: Router) -> None:
    infos = {i.name: i for i in router.list_models()}
    assert infos["img"].available and infos["img"].kind == "image"
    assert not infos["only-planned"].available
    assert infos["only-planned"].reason == "provider type 'someday' has no adapter yet"
    assert infos["wrong-cap"].reason == "provider 'chatty' has no image adapter yet"


async def test_call_skips_routes_that_cannot_serve_the_kind(router: Router) -> None:
    request = ImageRequest(prompt="a red kite", size="64x48", count=2, seed=3)
    answered = await router.call("img", "image", lambda p, r: p.submit(request.for_upstream(r.upstream)))
    assert (answered.route.provider, answered.route.upstream) == ("pics", "d1")
    assert [a.ok for a in answered.attempts] == [True]
    assert isinstance(answered.value, Finished) and len(answered.value.outputs) == 2
    with pytest.raises(ProviderUnavailable):
        await router.call("only-planned", "image", lambda p, r: p.submit(request))
    with pytest.raises(InvalidRequest, match="is not an image model"):
        await router.call("c", "image", lambda p, r: p.submit(request))


async def test_call_falls_back_on_retryable_errors_and_stops_on_others(router: Router) -> None:
    two = Settings(providers={"a": {"type": "demo-image"}, "b": {"type": "demo-image"}},
                   models={"m": {"kind": "image", "routes": [{"provider": "a", "upstream": "u", "priority": 0},
                                                            {"provider": "b", "upstream": "u", "priority": 1}]}})
    r2 = Router(two, ProviderRegistry.from_settings(two, env={}))
    request = ImageRequest(prompt="p", size="8x8")

    async def flaky(provider, route):
        if route.provider == "a":
            raise ProviderError("busy upstream", retryable=True, provider="a")
        return await provider.submit(request)

    answered = await r2.call("m", "image", flaky)
    assert answered.route.provider == "b"
    assert [(a.provider, a.ok) for a in answered.attempts] == [("a", False), ("b", True)]

    async def refused(provider, route):
        raise ProviderError("refused", retryable=False, provider=route.provider)

    with pytest.raises(ProviderError) as info:
        await r2.call("m", "image", refused)
    assert [a.provider for a in info.value.attempts] == ["a"]  # not retried on b
    await r2.aclose()


async def test_demo_image_is_a_real_png_deterministic_from_prompt_and_seed() -> None:
    provider = DemoImageProvider()
    first = await provider.submit(ImageRequest(prompt="a cat", size="40x30", count=1, seed=9))
    again = await provider.submit(ImageRequest(prompt="a cat", size="40x30", count=1, seed=9))
    other = await provider.submit(ImageRequest(prompt="a cat", size="40x30", count=1, seed=10))
    assert isinstance(first, Finished) and isinstance(again, Finished) and isinstance(other, Finished)
    data = first.outputs[0].data
    assert data is not None and data == again.outputs[0].data != other.outputs[0].data
    with Image.open(io.BytesIO(data)) as image:
        assert (image.format, image.size) == ("PNG", (40, 30))


async def test_demo_image_flag_withholds_every_second_image() -> None:
    outcome = await DemoImageProvider().submit(ImageRequest(prompt="x [flag]", size="8x8", count=4))
    assert isinstance(outcome, Finished)
    assert (len(outcome.outputs), outcome.flagged) == (2, 2)
    assert [h.flag for h in outcome.held] == ["demo", "demo"] and all(h.data for h in outcome.held)
