"""The router over real adapters and loopback fakes: fallback, circuits, budgets, one answer."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from typing import Any

import pytest

from smarthub_mcp.config import Settings
from smarthub_mcp.errors import ProviderError, ProviderUnavailable, UnknownModel
from smarthub_mcp.providers.base import ChatMessage, ChatRequest, StreamDone, TextDelta
from smarthub_mcp.providers.registry import ProviderRegistry
from smarthub_mcp.providers.router import RouteDelta, Router
from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.script import BreakStream, Fail, Hang, Reply

REQUEST = ChatRequest(messages=(ChatMessage("user", "hello"),), max_tokens=100)
ENV = {"KEY_A": "test-key", "KEY_B": "test-key"}


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def settings_for(a: Any, b: Any, *, b_type: str = "openai", router: dict[str, Any] | None = None,
                 routes: list[dict[str, Any]] | None = None, a_extra: dict[str, Any] | None = None) -> Settings:
    b_url = b.url + "/v1" if b_type == "openai" else b.url
    return Settings(
        providers={
            "a": {"type": "openai", "base_url": a.url + "/v1", "api_key_env": "KEY_A", "timeout_seconds": 5,
                  **(a_extra or {})},
            "b": {"type": b_type, "base_url": b_url, "api_key_env": "KEY_B", "timeout_seconds": 5},
        },
        models={"m": {"kind": "chat", "max_output_tokens": 64, "routes": routes or [
            {"provider": "a", "upstream": "up-a", "priority": 0},
            {"provider": "b", "upstream": "up-b", "priority": 1},
        ]}},
        router={"circuit_failures": 2, "circuit_cooldown_seconds": 30, **(router or {})},
    )


class StepClock(FakeClock):
    def __init__(self, step: float) -> None:
        super().__init__()
        self.step = step

    def __call__(self) -> float:
        self.now += self.step
        return self.now


@pytest.fixture
async def make_router() -> AsyncIterator[Callable[..., Router]]:
    routers: list[Router] = []

    def _make(settings: Settings, clock: Callable[[], float] | None = None,
              env: dict[str, str] | None = None) -> Router:
        router = Router(settings, ProviderRegistry.from_settings(settings, env=ENV if env is None else env),
                        clock=clock or FakeClock(), rng=random.Random(7))
        routers.append(router)
        return router

    yield _make
    for router in routers:
        await router.aclose()


async def test_first_route_answers(fake_openai: FakeOpenAI, fake_openai_2: FakeOpenAI, make_router) -> None:
    router = make_router(settings_for(fake_openai, fake_openai_2))
    result = await router.complete("m", replace(REQUEST, max_tokens=10_000))
    assert (result.provider, result.upstream_model, result.route_index, result.model) == ("a", "up-a", 0, "m")
    assert [a.ok for a in result.attempts] == [True]
    assert fake_openai.requests[0]["body"]["max_tokens"] == 64  # capped at the model's max_output_tokens
    assert fake_openai_2.requests == []


@pytest.mark.parametrize("failure", [Fail(500), Fail(429, headers={"retry-after": "1"}), Fail(529), Hang()])
async def test_retryable_failure_falls_back_to_next_route(fake_openai, fake_anthropic, make_router, failure) -> None:
    settings = settings_for(fake_openai, fake_anthropic, b_type="anthropic", a_extra={"timeout_seconds": 0.3})
    router = make_router(settings)
    fake_openai.script(failure)
    fake_anthropic.script(Reply("from b", input_tokens=4, output_tokens=2))
    result = await router.complete("m", REQUEST)
    assert (result.text, result.provider, result.upstream_model, result.route_index) == ("from b", "b", "up-b", 1)
    assert (result.input_tokens, result.output_tokens) == (4, 2)
    assert [(a.provider, a.ok) for a in result.attempts] == [("a", False), ("b", True)]
    assert result.attempts[0].retryable


@pytest.mark.parametrize(("failure", "code"), [(Fail(400), "provider_rejected"), (Fail(401), "provider_error")])
async def test_non_retryable_failure_returns_at_once(fake_openai, fake_openai_2, make_router, failure, code) -> None:
    router = make_router(settings_for(fake_openai, fake_openai_2))
    fake_openai.script(failure)
    with pytest.raises(ProviderError) as info:
        await router.complete("m", REQUEST)
    assert info.value.code == code and not info.value.retryable
    assert [a.ok for a in info.value.attempts] == [False]
    assert fake_openai_2.requests == []


async def test_every_route_failing_charges_nothing(fake_openai, fake_openai_2, make_router) -> None:
    router = make_router(settings_for(fake_openai, fake_openai_2))
    fake_openai.script(Fail(500))
    fake_openai_2.script(Fail(503))
    with pytest.raises(ProviderUnavailable) as info:
        await router.complete("m", REQUEST)
    assert info.value.code == "provider_unavailable" and info.value.retryable
    assert [(a.provider, a.ok, a.upstream_status) for a in info.value.attempts] == [("a", False, 500),
                                                                                    ("b", False, 503)]


async def test_attempt_budget_is_bounded(fake_openai, fake_openai_2, make_router) -> None:
    router = make_router(settings_for(fake_openai, fake_openai_2, router={"max_attempts": 1}))
    fake_openai.script(Fail(500))
    with pytest.raises(ProviderUnavailable) as info:
        await router.complete("m", REQUEST)
    assert len(info.value.attempts) == 1 and fake_openai_2.requests == []


async def test_time_budget_stops_new_attempts(fake_openai, fake_openai_2, make_router) -> None:
    clock = StepClock(step=11)  # every reading is 11 s later: the first attempt "took" longer than the budget
    router = make_router(settings_for(fake_openai, fake_openai_2, router={"budget_seconds": 10}), clock=clock)
    fake_openai.script(Fail(500))
    with pytest.raises(ProviderUnavailable) as info:
        await router.complete("m", REQUEST)
    assert len(info.value.attempts) == 1 and fake_openai_2.requests == []


async def test_circuit_opens_then_closes_after_cooldown(fake_openai, fake_openai_2, make_router) -> None:
    clock = FakeClock()
    router = make_router(settings_for(fake_openai, fake_openai_2), clock=clock)
    fake_openai.script(Fail(500), Fail(500))
    for _ in range(2):  # two consecutive failures open route a
        assert (await router.complete("m", REQUEST)).provider == "b"
    assert len(fake_openai.requests) == 2

    result = await router.complete("m", REQUEST)  # open: a is skipped, not called
    assert result.provider == "b" and [a.provider for a in result.attempts] == ["b"]
    assert len(fake_openai.requests) == 2

    clock.now += 31  # cooled down: one probe goes to a; it fails, so a opens again
    fake_openai.script(Fail(500))
    assert (await router.complete("m", REQUEST)).provider == "b"
    assert len(fake_openai.requests) == 3
    assert (await router.complete("m", REQUEST)).provider == "b"
    assert len(fake_openai.requests) == 3

    clock.now += 31  # the next probe succeeds and closes the circuit
    assert (await router.complete("m", REQUEST)).provider == "a"
    assert (await router.complete("m", REQUEST)).provider == "a"
    assert len(fake_openai.requests) == 5


async def test_all_circuits_open_fails_fast_with_retry_time(fake_openai, fake_openai_2, make_router) -> None:
    router = make_router(settings_for(fake_openai, fake_openai_2))
    fake_openai.script(Fail(500), Fail(500))
    fake_openai_2.script(Fail(500), Fail(500))
    for _ in range(2):
        with pytest.raises(ProviderUnavailable):
            await router.complete("m", REQUEST)
    with pytest.raises(ProviderUnavailable) as info:
        await router.complete("m", REQUEST)
    assert info.value.attempts == () and info.value.retry_after == 30
    assert len(fake_openai.requests) == len(fake_openai_2.requests) == 2


async def test_weights_balance_routes_of_equal_priority(make_router) -> None:
    settings = Settings(
        providers={"d1": {"type": "demo"}, "d2": {"type": "demo"}},
        models={"m": {"kind": "chat", "routes": [{"provider": "d1", "upstream": "x", "weight": 3},
                                                 {"provider": "d2", "upstream": "y", "weight": 1}]}},
    )
    router = make_router(settings)
    counts = {"d1": 0, "d2": 0}
    for _ in range(80):
        counts[(await router.complete("m", REQUEST)).provider] += 1
    assert counts["d1"] > counts["d2"] > 0


async def test_concurrency_cap_sends_overflow_to_next_route(fake_openai, fake_openai_2, make_router) -> None:
    # The timeout bounds both the hung request and the wait for a's one slot; it is generous so that
    # on a loaded machine the first request still reaches a before it runs out.
    settings = settings_for(fake_openai, fake_openai_2, a_extra={"max_concurrency": 1, "timeout_seconds": 1.5})
    router = make_router(settings)
    fake_openai.script(Hang())
    first, second = await asyncio.wait_for(
        asyncio.gather(router.complete("m", REQUEST), router.complete("m", REQUEST)), 10
    )
    assert first.provider == second.provider == "b"
    assert len(fake_openai.requests) == 1  # the second call never reached a: its slot was taken


async def test_models_without_keys_are_listed_unavailable(make_router, fake_openai, fake_openai_2) -> None:
    router = make_router(settings_for(fake_openai, fake_openai_2), env={})
    info = {m.name: m for m in router.list_models()}
    assert not info["m"].available and info["m"].reason == "KEY_A is not set; KEY_B is not set"
    with pytest.raises(ProviderUnavailable):
        await router.complete("m", REQUEST)
    with pytest.raises(UnknownModel):
        router.model("nope")


async def test_default_settings_serve_demo_chat(make_router) -> None:
    router = make_router(Settings(), env={})
    info = {m.name: m for m in router.list_models()}
    assert info["demo-chat"].available and info["demo-chat"].reason is None
    result = await router.complete("demo-chat", REQUEST)
    assert result.provider == "demo" and result.input_tokens > 0 and result.output_tokens > 0
    assert "hello" in result.text


# --- streaming ----------------------------------------------------------------------------------


async def collect(router: Router, request: ChatRequest = REQUEST) -> tuple[list[str], StreamDone]:
    pieces: list[str] = []
    done = None
    async for event in router.stream("m", request):
        if isinstance(event, TextDelta):
            pieces.append(event.text)
        else:
            done = event
    assert isinstance(done, StreamDone)
    return pieces, done


async def test_stream_falls_back_when_nothing_was_delivered(fake_openai, fake_anthropic, make_router) -> None:
    router = make_router(settings_for(fake_openai, fake_anthropic, b_type="anthropic"))
    fake_openai.script(BreakStream("never seen", after=0))
    fake_anthropic.script(Reply("from b", input_tokens=5, output_tokens=2))
    pieces, done = await collect(router)
    assert "".join(pieces) == "from b" == done.result.text
    assert (done.result.provider, done.result.partial, done.result.output_tokens) == ("b", False, 2)
    assert [a.ok for a in done.result.attempts] == [False, True]


async def test_stream_broken_after_text_ends_partial(fake_openai, fake_openai_2, make_router) -> None:
    router = make_router(settings_for(fake_openai, fake_openai_2))
    fake_openai.script(BreakStream("alpha beta gamma", after=2))
    pieces, done = await collect(router)
    result = done.result
    assert "".join(pieces) == "alpha beta" == result.text
    assert result.partial and result.finish_reason == "interrupted" and result.provider == "a"
    assert result.output_tokens >= 2 and result.input_tokens > 0
    assert fake_openai_2.requests == []  # no fallback once text was delivered


async def test_stream_to_hands_text_to_callback(make_router) -> None:
    router = make_router(Settings(), env={})
    seen: list[RouteDelta] = []

    async def on_delta(piece: RouteDelta) -> None:
        seen.append(piece)

    result = await router.stream_to("demo-chat", REQUEST, on_delta)
    assert "".join(p.text for p in seen) == result.text and result.provider == "demo" and not result.partial
    assert {(p.provider, p.upstream) for p in seen} == {("demo", result.upstream_model)}  # whose text it is



async def test_abandoned_stream_gives_its_slot_back(make_router) -> None:
    settings = Settings(providers={"demo": {"type": "demo", "max_concurrency": 1, "timeout_seconds": 1}})
    router = make_router(settings, env={})
    stream = router.stream("demo-chat", REQUEST)
    assert isinstance(await anext(stream), TextDelta)
    await stream.aclose()  # the client went away mid-answer
    result = await asyncio.wait_for(router.complete("demo-chat", REQUEST), 5)
    assert result.provider == "demo" and [a.ok for a in result.attempts] == [True]
