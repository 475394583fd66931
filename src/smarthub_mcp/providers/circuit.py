"""A circuit breaker per route, on an injectable clock.

Closed: calls go through; `failures` consecutive retryable failures open it. Open: the route is
skipped for `cooldown` seconds. Then half-open: one probe call is let through; its success closes
the circuit, its failure opens it again for another cool-down. State is per process: a replica
learns on its own that a route is failing, which costs at most `failures` calls each.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from dataclasses import dataclass


@dataclass
class _State:
    failures: int = 0
    opened_at: float | None = None
    probing: bool = False


class CircuitBreaker:
    def __init__(self, *, failures: int, cooldown: float, clock: Callable[[], float]) -> None:
        self.threshold = failures
        self.cooldown = cooldown
        self.clock = clock
        self._states: dict[Hashable, _State] = {}

    def _state(self, key: Hashable) -> _State:
        return self._states.setdefault(key, _State())

    def is_open(self, key: Hashable) -> bool:
        """Would a call be refused right now (open and cooling down, or a probe already out)?"""
        state = self._states.get(key)
        if state is None or state.opened_at is None:
            return False
        return state.probing or self.clock() - state.opened_at < self.cooldown

    def acquire(self, key: Hashable) -> bool:
        """May a call go to this route now? In half-open state this takes the single probe slot."""
        state = self._state(key)
        if state.opened_at is None:
            return True
        if self.is_open(key):
            return False
        state.probing = True
        return True

    def release(self, key: Hashable) -> None:
        """Give the probe slot back without a verdict (the call was cancelled or not made)."""
        self._state(key).probing = False

    def record_success(self, key: Hashable) -> None:
        self._states[key] = _State()

    def record_failure(self, key: Hashable) -> None:
        state = self._state(key)
        state.probing = False
        state.failures += 1
        if state.opened_at is not None or state.failures >= self.threshold:
            state.opened_at = self.clock()

    def retry_in(self, key: Hashable) -> float:
        """Seconds until the route may be tried again (0 when it may be tried now)."""
        state = self._states.get(key)
        if state is None or state.opened_at is None:
            return 0.0
        return max(0.0, self.cooldown - (self.clock() - state.opened_at))

    def state_of(self, key: Hashable) -> tuple[str, int, float]:
        """(closed | open | half-open, consecutive failures, seconds until it may be tried) for a status page."""
        state = self._states.get(key)
        if state is None or state.opened_at is None:
            return "closed", state.failures if state else 0, 0.0
        return ("open" if self.is_open(key) else "half-open"), state.failures, self.retry_in(key)
