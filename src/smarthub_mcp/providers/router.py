"""Public model names to provider routes: balancing, fallback, circuit breaking, one answer.

    router = Router(settings, ProviderRegistry.from_settings(settings))
    result = await router.complete("gpt-4o-mini", ChatRequest(messages=(ChatMessage("user", "hi"),)))
    async for event in router.stream("demo-chat", request):   # TextDelta..., then one StreamDone
        ...
    result = await router.stream_to("demo-chat", request, on_delta)   # same, with a callback
    router.list_models() -> list[ModelInfo];  router.model(name) -> ModelConfig (UnknownModel)
    await router.aclose()

Media: `await router.call(name, "image", fn)` runs `fn(provider, route)` through the same attempt
loop (attempts.py) and returns `Answered(value, route, attempts)`.

Order: routes sorted by `priority` (lower first); among equal priorities, a weighted random order
(`weight`; 0 means only after the weighted ones). Routes whose provider is unavailable (no key,
disabled) or whose circuit is open are skipped. Budget: at most `router.max_attempts` calls and no
new call after `router.budget_seconds` (each call is bounded by its provider's timeout).

Failures: a retryable `ProviderError` (429, 5xx, 529, timeout, connection, malformed) counts against
the route's circuit and moves on to the next route; a non-retryable one (400, 401, content policy)
is raised at once. When nothing answered, `ProviderUnavailable` is raised (or the non-retryable
error): its `.attempts` lists every call and nothing is to be charged.

Charging: a `ChatResult` names the single route that answered (`provider`, `upstream_model`,
`route_index`, `model`); charge its `input_tokens`/`output_tokens` once at the model's price.
`attempts` lists every call in order, the answering one last (`ok=True`). The request's
`max_tokens` is capped at the model's `max_output_tokens`, so output never exceeds a hold built
from that figure.

Streams: a failure before any text falls back like `complete`; a break after text was delivered
ends the stream with `StreamDone(result)` where `result.partial` is True, `finish_reason` is
"interrupted" and the usage covers only what was produced.
"""

from __future__ import annotations

import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Any, Generic, TypeVar

from smarthub_mcp.config import ModelConfig, RouteConfig, Settings
from smarthub_mcp.errors import InvalidRequest, ProviderError, ProviderUnavailable, unknown_model
from smarthub_mcp.providers.adapters import Capability
from smarthub_mcp.providers.attempts import Route, Tries, ms_since
from smarthub_mcp.providers.base import (
    Attempt,
    ChatRequest,
    ChatResult,
    StreamDone,
    StreamEnd,
    StreamInterrupted,
    TextDelta,
    Usage,
)
from smarthub_mcp.providers.circuit import CircuitBreaker
from smarthub_mcp.providers.registry import ProviderRegistry

T = TypeVar("T")

__all__ = ["Answered", "ModelInfo", "Route", "RouteDelta", "Router", "order_routes"]


@dataclass(frozen=True, slots=True)
class RouteDelta(TextDelta):
    """A piece of streamed text and the route it came from. All of a stream's text comes from one
    route (no fallback once text went out), so a consumer that is cut off midway knows whom the
    text it already has came from."""

    provider: str
    upstream: str


@dataclass(frozen=True, slots=True)
class ModelInfo:
    name: str
    kind: str
    description: str
    available: bool
    reason: str | None
    max_output_tokens: int
    context_window: int


@dataclass(frozen=True, slots=True)
class RouteState:
    model: str
    kind: str
    provider: str
    upstream: str
    unavailable: str | None
    """Why the model cannot be used (its provider is off or lacks a key), or None."""
    circuit: str
    failures: int
    retry_in: float


@dataclass(frozen=True, slots=True)
class Answered(Generic[T]):
    """What one route answered through `Router.call`, and every call made to get it."""

    value: T
    route: Route
    attempts: tuple[Attempt, ...]


def order_routes(routes: list[RouteConfig], rng: random.Random) -> list[Route]:
    """Priority groups in order; inside a group, weighted sampling without replacement."""
    ordered: list[Route] = []
    for priority in sorted({r.priority for r in routes}):
        group = [(i, r) for i, r in enumerate(routes) if r.priority == priority]
        weighted = [(i, r) for i, r in group if r.weight > 0]
        while weighted:
            pick = rng.choices(range(len(weighted)), weights=[r.weight for _, r in weighted])[0]
            i, r = weighted.pop(pick)
            ordered.append(Route(i, r.provider, r.upstream))
        ordered.extend(Route(i, r.provider, r.upstream) for i, r in group if r.weight == 0)
    return ordered


class Router:
    def __init__(
        self,
        settings: Settings,
        registry: ProviderRegistry,
        *,
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
    ) -> None:
        self.settings = settings
        self.registry = registry
        self.clock = clock
        self.rng = rng or random.Random()  # noqa: S311 - load balancing, not security
        config = settings.router
        self.circuit = CircuitBreaker(
            failures=config.circuit_failures, cooldown=config.circuit_cooldown_seconds, clock=clock
        )

    # --- models ---------------------------------------------------------------------------------

    def model(self, name: str) -> ModelConfig:
        model = self.settings.models.get(name)
        if model is None:
            raise unknown_model(name, self.settings.models)
        return model

    def _unavailable_reason(self, model: ModelConfig) -> str | None:
        if not model.enabled:
            return "model is disabled"
        reasons = []
        for route in model.routes:
            entry = self.registry.get(route.provider)
            if entry.available and model.kind in entry.capabilities:
                return None
            if entry.available:
                reasons.append(f"provider '{route.provider}' has no {model.kind} adapter yet")
            else:
                reasons.append(entry.reason or f"provider '{route.provider}' is unavailable")
        return "; ".join(dict.fromkeys(reasons))

    def list_models(self) -> list[ModelInfo]:
        infos = []
        for name, model in self.settings.models.items():
            reason = self._unavailable_reason(model)
            infos.append(ModelInfo(name, model.kind, model.description, reason is None, reason,
                                   model.max_output_tokens, model.context_window))
        return infos

    def route_states(self) -> list[RouteState]:
        """Every configured route with its circuit's state in this process (the admin's provider page)."""
        out = []
        for name, model in self.settings.models.items():
            reason = self._unavailable_reason(model)
            for r in model.routes:
                state, failures, wait = self.circuit.state_of((r.provider, r.upstream))
                out.append(RouteState(name, model.kind, r.provider, r.upstream, reason, state, failures, wait))
        return out

    def _routes(self, name: str, kind: Capability) -> tuple[ModelConfig, list[Route]]:
        model = self.model(name)
        if model.kind != kind:
            raise InvalidRequest(f"model '{name}' is not {_article(kind)} {kind} model",
                                 details={"model": name, "kind": model.kind})
        reason = self._unavailable_reason(model)
        if reason is not None:
            raise ProviderUnavailable(f"model '{name}' is unavailable: {reason}", details={"model": name})
        entries = self.registry.entries
        routes = [r for r in order_routes(model.routes, self.rng)
                  if entries[r.provider].available and kind in entries[r.provider].capabilities]
        return model, routes

    def _tries(self, name: str, routes: list[Route]) -> Tries:
        return Tries(name, routes, self.registry, self.circuit, self.settings.router, self.clock)

    def _chat_plan(self, name: str, request: ChatRequest) -> tuple[ChatRequest, Tries]:
        model, routes = self._routes(name, "chat")
        request = replace(request, max_tokens=max(1, min(request.max_tokens, model.max_output_tokens)))
        return request, self._tries(name, routes)

    # --- calls ----------------------------------------------------------------------------------

    async def call(self, name: str, kind: Capability,
                   fn: Callable[[Any, Route], Awaitable[T]],
                   usage: Callable[[T], Usage | None] = lambda _: None) -> Answered[T]:
        """Run `fn(provider, route)` on the model's routes in order until one answers."""
        _, routes = self._routes(name, kind)
        tries = self._tries(name, routes)
        for route, entry in tries:
            began = time.monotonic()
            try:
                async with entry.slot():
                    value = await fn(entry.provider, route)
            except ProviderError as error:
                tries.failed(route, error, began)
                continue
            except BaseException:
                tries.abandon(route)
                raise
            return Answered(value, route, tries.succeeded(route, began, usage(value)))
        raise tries.give_up()

    async def complete(self, name: str, request: ChatRequest) -> ChatResult:
        request, tries = self._chat_plan(name, request)
        for route, entry in tries:
            began = time.monotonic()
            try:
                async with entry.slot():
                    result = await entry.provider.complete(request.for_upstream(route.upstream))
            except ProviderError as error:
                tries.failed(route, error, began)
                continue
            except BaseException:
                tries.abandon(route)
                raise
            attempts = tries.succeeded(route, began, Usage(result.input_tokens, result.output_tokens))
            return replace(result, model=name, route_index=route.index, attempts=attempts)
        raise tries.give_up()

    async def stream(self, name: str, request: ChatRequest) -> AsyncIterator[RouteDelta | StreamDone]:
        """RouteDelta events (TextDeltas with their route), then exactly one StreamDone; raises
        ProviderError when nothing was delivered."""
        request, tries = self._chat_plan(name, request)
        for route, entry in tries:
            began = time.monotonic()
            produced: list[str] = []
            end: StreamEnd | None = None
            try:
                async with entry.slot():
                    async for event in entry.provider.stream(request.for_upstream(route.upstream)):
                        if isinstance(event, TextDelta):
                            produced.append(event.text)
                            yield RouteDelta(event.text, route.provider, route.upstream)
                        else:
                            end = event
            except StreamInterrupted as error:
                # Text already reached the user: no fallback (it would repeat or contradict it).
                usage = error.partial_usage
                attempts = tries.succeeded(route, began, usage, error=error)
                yield StreamDone(ChatResult(
                    text="".join(produced), upstream_model=route.upstream, provider=route.provider,
                    input_tokens=usage.input_tokens, output_tokens=usage.output_tokens,
                    finish_reason="interrupted", latency_ms=ms_since(began), model=name,
                    route_index=route.index, partial=True, attempts=attempts,
                ))
                return
            except ProviderError as error:
                tries.failed(route, error, began)
                continue
            except BaseException:
                tries.abandon(route)
                raise
            if end is None:  # an adapter must end with StreamEnd; treat a silent end as malformed
                tries.abandon(route)
                raise ProviderError("The AI provider ended its answer without usage", provider=route.provider)
            attempts = tries.succeeded(route, began, Usage(end.input_tokens, end.output_tokens))
            yield StreamDone(ChatResult(
                text="".join(produced), upstream_model=end.upstream_model, provider=route.provider,
                input_tokens=end.input_tokens, output_tokens=end.output_tokens,
                finish_reason=end.finish_reason, latency_ms=ms_since(began), model=name,
                route_index=route.index, attempts=attempts,
            ))
            return
        raise tries.give_up()

    async def stream_to(
        self, name: str, request: ChatRequest, on_delta: Callable[[RouteDelta], Awaitable[None]]
    ) -> ChatResult:
        """Stream, handing each piece of text (with its route) to `on_delta`; return the result to charge."""
        stream = self.stream(name, request)
        try:
            async for event in stream:
                if isinstance(event, RouteDelta):
                    await on_delta(event)
                else:
                    return event.result
        finally:
            await stream.aclose()  # type: ignore[attr-defined]
        raise ProviderError("The AI provider ended its answer unexpectedly")  # unreachable by contract

    async def aclose(self) -> None:
        await self.registry.aclose()


def _article(kind: str) -> str:
    return "an" if kind[0] in "aeiou" else "a"
