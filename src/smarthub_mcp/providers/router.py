"""Public model names to provider routes: balancing, fallback, circuit breaking, one answer.

    router = Router(settings, ProviderRegistry.from_settings(settings))
    result = await router.complete("gpt-4o-mini", ChatRequest(messages=(ChatMessage("user", "hi"),)))
    async for event in router.stream("demo-chat", request):   # TextDelta..., then one StreamDone
        ...
    result = await router.stream_to("demo-chat", request, on_delta)   # same, with a callback
    router.list_models() -> list[ModelInfo];  router.model(name) -> ModelConfig (UnknownModel)
    await router.aclose()

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

from smarthub_mcp.config import ModelConfig, RouteConfig, Settings
from smarthub_mcp.errors import InvalidRequest, ProviderError, ProviderUnavailable, unknown_model
from smarthub_mcp.providers.base import (
    Attempt,
    ChatRequest,
    ChatResult,
    StreamDone,
    StreamEnd,
    StreamInterrupted,
    TextDelta,
)
from smarthub_mcp.providers.circuit import CircuitBreaker
from smarthub_mcp.providers.registry import ProviderRegistry

CHAT_KINDS = frozenset({"chat"})


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
class Route:
    index: int
    provider: str
    upstream: str

    @property
    def key(self) -> tuple[str, str]:
        return (self.provider, self.upstream)


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
        if model.kind not in CHAT_KINDS:
            return f"{model.kind} models are not supported yet"
        reasons = []
        for route in model.routes:
            entry = self.registry.get(route.provider)
            if entry.available:
                return None
            reasons.append(entry.reason or f"provider '{route.provider}' is unavailable")
        return "; ".join(dict.fromkeys(reasons))

    def list_models(self) -> list[ModelInfo]:
        infos = []
        for name, model in self.settings.models.items():
            reason = self._unavailable_reason(model)
            infos.append(ModelInfo(name, model.kind, model.description, reason is None, reason,
                                   model.max_output_tokens, model.context_window))
        return infos

    def _plan(self, name: str, request: ChatRequest) -> tuple[ModelConfig, ChatRequest, list[Route]]:
        model = self.model(name)
        if model.kind not in CHAT_KINDS:
            raise InvalidRequest(f"model '{name}' is not a chat model", details={"model": name, "kind": model.kind})
        reason = self._unavailable_reason(model)
        if reason is not None:
            raise ProviderUnavailable(f"model '{name}' is unavailable: {reason}", details={"model": name})
        request = replace(request, max_tokens=max(1, min(request.max_tokens, model.max_output_tokens)))
        routes = [r for r in order_routes(model.routes, self.rng) if self.registry.get(r.provider).available]
        return model, request, routes

    # --- attempts -------------------------------------------------------------------------------

    def _may_start(self, started: float, attempts: list[Attempt]) -> bool:
        config = self.settings.router
        if len(attempts) >= config.max_attempts:
            return False
        return not attempts or self.clock() - started < config.budget_seconds

    def _failed(self, route: Route, error: ProviderError, began: float, attempts: list[Attempt]) -> None:
        attempts.append(Attempt(
            route.provider, route.upstream, route.index, ok=False, latency_ms=_ms_since(began),
            error_code=error.code, upstream_status=error.upstream_status, retryable=error.retryable,
        ))
        if error.retryable and (error.details or {}).get("reason") != "busy":
            self.circuit.record_failure(route.key)
        else:
            self.circuit.release(route.key)

    def _give_up(self, name: str, routes: list[Route], attempts: list[Attempt],
                 last: ProviderError | None) -> ProviderUnavailable:
        if not attempts:
            wait = min((self.circuit.retry_in(r.key) for r in routes), default=0.0)
            return ProviderUnavailable(
                f"model '{name}' is temporarily unavailable", retryable=True, retry_after=wait or None,
                details={"model": name, "attempts": 0},
            )
        return ProviderUnavailable(
            f"every route of model '{name}' failed", retryable=True,
            retry_after=last.retry_after if last else None, attempts=tuple(attempts),
            upstream_status=last.upstream_status if last else None,
            details={"model": name, "attempts": len(attempts)},
        )

    async def complete(self, name: str, request: ChatRequest) -> ChatResult:
        _, request, routes = self._plan(name, request)
        started = self.clock()
        attempts: list[Attempt] = []
        last: ProviderError | None = None
        for route in routes:
            if not self._may_start(started, attempts):
                break
            if not self.circuit.acquire(route.key):
                continue
            entry = self.registry.get(route.provider)
            assert entry.provider is not None
            began = time.monotonic()
            try:
                async with entry.slot():
                    result = await entry.provider.complete(request.for_upstream(route.upstream))
            except ProviderError as error:
                self._failed(route, error, began, attempts)
                if not error.retryable:
                    error.attempts = tuple(attempts)
                    raise
                last = error
                continue
            except BaseException:
                self.circuit.release(route.key)
                raise
            self.circuit.record_success(route.key)
            attempts.append(Attempt(route.provider, route.upstream, route.index, ok=True,
                                    latency_ms=_ms_since(began), input_tokens=result.input_tokens,
                                    output_tokens=result.output_tokens))
            return replace(result, model=name, route_index=route.index, attempts=tuple(attempts))
        raise self._give_up(name, routes, attempts, last)

    async def stream(self, name: str, request: ChatRequest) -> AsyncIterator[RouteDelta | StreamDone]:
        """RouteDelta events (TextDeltas with their route), then exactly one StreamDone; raises
        ProviderError when nothing was delivered."""
        _, request, routes = self._plan(name, request)
        started = self.clock()
        attempts: list[Attempt] = []
        last: ProviderError | None = None
        for route in routes:
            if not self._may_start(started, attempts):
                break
            if not self.circuit.acquire(route.key):
                continue
            entry = self.registry.get(route.provider)
            assert entry.provider is not None
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
                if error.retryable:
                    self.circuit.record_failure(route.key)
                else:
                    self.circuit.release(route.key)
                usage = error.partial_usage
                attempts.append(Attempt(route.provider, route.upstream, route.index, ok=True,
                                        latency_ms=_ms_since(began), error_code=error.code,
                                        upstream_status=error.upstream_status, retryable=error.retryable,
                                        input_tokens=usage.input_tokens, output_tokens=usage.output_tokens))
                yield StreamDone(ChatResult(
                    text="".join(produced), upstream_model=route.upstream, provider=route.provider,
                    input_tokens=usage.input_tokens, output_tokens=usage.output_tokens,
                    finish_reason="interrupted", latency_ms=_ms_since(began), model=name,
                    route_index=route.index, partial=True, attempts=tuple(attempts),
                ))
                return
            except ProviderError as error:
                self._failed(route, error, began, attempts)
                if not error.retryable:
                    error.attempts = tuple(attempts)
                    raise
                last = error
                continue
            except BaseException:
                self.circuit.release(route.key)
                raise
            if end is None:  # an adapter must end with StreamEnd; treat a silent end as malformed
                self.circuit.release(route.key)
                raise ProviderError("The AI provider ended its answer without usage", provider=route.provider)
            self.circuit.record_success(route.key)
            attempts.append(Attempt(route.provider, route.upstream, route.index, ok=True,
                                    latency_ms=_ms_since(began), input_tokens=end.input_tokens,
                                    output_tokens=end.output_tokens))
            yield StreamDone(ChatResult(
                text="".join(produced), upstream_model=end.upstream_model, provider=route.provider,
                input_tokens=end.input_tokens, output_tokens=end.output_tokens,
                finish_reason=end.finish_reason, latency_ms=_ms_since(began), model=name,
                route_index=route.index, attempts=tuple(attempts),
            ))
            return
        raise self._give_up(name, routes, attempts, last)

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


def _ms_since(began: float) -> int:
    return int((time.monotonic() - began) * 1000)
