"""The one attempt loop every kind of provider call goes through: order, budget, circuit, outcome.

    tries = Tries(name, routes, registry, circuit, config, clock)
    for route, entry in tries:                  # only routes that may start now
        began = time.monotonic()
        try:
            ... call entry.provider inside `async with entry.slot()` ...
        except ProviderError as error:
            tries.failed(route, error, began)   # re-raises a non-retryable error with the attempts
            continue
        except BaseException:
            tries.abandon(route)
            raise
        tries.succeeded(route, began, usage)
        return ...
    raise tries.give_up()

Chat complete, chat stream and media submits share it (router.py): the stream needs its own body
(it yields as text arrives), the others use `Router.call`, but fallback, budgets and circuits are
decided here only.

Budget: at most `router.max_attempts` calls and no new call after `router.budget_seconds` (each call
is bounded by its provider's timeout). A retryable `ProviderError` counts against the route's
circuit (a provider that is merely at its own concurrency cap does not) and moves on; a
non-retryable one is raised at once. When nothing answered, `ProviderUnavailable` carries every call.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from smarthub_mcp.config import RouterConfig
from smarthub_mcp.errors import ProviderError, ProviderUnavailable
from smarthub_mcp.providers.base import Attempt, Usage
from smarthub_mcp.providers.circuit import CircuitBreaker
from smarthub_mcp.providers.registry import ProviderEntry, ProviderRegistry


@dataclass(frozen=True, slots=True)
class Route:
    index: int
    provider: str
    upstream: str

    @property
    def key(self) -> tuple[str, str]:
        return (self.provider, self.upstream)


class Tries:
    def __init__(self, name: str, routes: list[Route], registry: ProviderRegistry, circuit: CircuitBreaker,
                 config: RouterConfig, clock: Callable[[], float]) -> None:
        self.name = name
        self.routes = routes
        self.registry = registry
        self.circuit = circuit
        self.config = config
        self.clock = clock
        self.started = clock()
        self.attempts: list[Attempt] = []
        self.last: ProviderError | None = None

    def __iter__(self) -> Iterator[tuple[Route, ProviderEntry]]:
        for route in self.routes:
            if not self._may_start():
                return
            if not self.circuit.acquire(route.key):
                continue
            yield route, self.registry.get(route.provider)

    def _may_start(self) -> bool:
        if len(self.attempts) >= self.config.max_attempts:
            return False
        return not self.attempts or self.clock() - self.started < self.config.budget_seconds

    def failed(self, route: Route, error: ProviderError, began: float) -> None:
        """Record a failed call; raise it at once unless another route may answer instead."""
        self.attempts.append(Attempt(
            route.provider, route.upstream, route.index, ok=False, latency_ms=ms_since(began),
            error_code=error.code, upstream_status=error.upstream_status, retryable=error.retryable,
        ))
        if error.retryable and (error.details or {}).get("reason") != "busy":
            self.circuit.record_failure(route.key)
        else:
            self.circuit.release(route.key)
        if not error.retryable:
            error.attempts = tuple(self.attempts)
            raise error
        self.last = error

    def succeeded(self, route: Route, began: float, usage: Usage | None = None,
                  *, error: ProviderError | None = None) -> tuple[Attempt, ...]:
        """Record the answering call (`error`: a stream that broke after delivering text, which
        still answered); return every attempt, this one last."""
        if error is None:
            self.circuit.record_success(route.key)
        elif error.retryable:
            self.circuit.record_failure(route.key)
        else:
            self.circuit.release(route.key)
        usage = usage or Usage()
        self.attempts.append(Attempt(
            route.provider, route.upstream, route.index, ok=True, latency_ms=ms_since(began),
            error_code=error.code if error else None,
            upstream_status=error.upstream_status if error else None,
            retryable=error.retryable if error else False,
            input_tokens=usage.input_tokens, output_tokens=usage.output_tokens,
        ))
        return tuple(self.attempts)

    def abandon(self, route: Route) -> None:
        """The call was cancelled or crashed outside the provider's contract: free its circuit slot."""
        self.circuit.release(route.key)

    def give_up(self) -> ProviderUnavailable:
        name, last = self.name, self.last
        if not self.attempts:
            wait = min((self.circuit.retry_in(r.key) for r in self.routes), default=0.0)
            return ProviderUnavailable(
                f"model '{name}' is temporarily unavailable", retryable=True, retry_after=wait or None,
                details={"model": name, "attempts": 0},
            )
        return ProviderUnavailable(
            f"every route of model '{name}' failed", retryable=True,
            retry_after=last.retry_after if last else None, attempts=tuple(self.attempts),
            upstream_status=last.upstream_status if last else None,
            details={"model": name, "attempts": len(self.attempts)},
        )


def ms_since(began: float) -> int:
    return int((time.monotonic() - began) * 1000)
