"""Prometheus metrics, one registry per running app (so two apps in one process stay apart).

Served at `/metrics` (api/health.py) to callers with the `reports:read` permission (a Prometheus scrape job sends
a manager's or admin's API key as its bearer token). Each replica exposes its own counters.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.tool_calls = Counter(
            "smarthub_tool_calls", "Tool calls by tool and outcome (ok or the error code).",
            ["tool", "outcome"], registry=self.registry,
        )
        self.tool_latency = Histogram(
            "smarthub_tool_latency_seconds", "Tool call latency, end to end inside the server.",
            ["tool"], buckets=LATENCY_BUCKETS, registry=self.registry,
        )
        self.credits_charged = Counter(
            "smarthub_credits_charged_micro", "Micro-credits charged, by tool (counted when a reservation settles).",
            ["tool"], registry=self.registry,
        )
        self.reservations = Counter(
            "smarthub_reservations", "Reservations ended, by tool and outcome (captured, released, expired).",
            ["tool", "outcome"], registry=self.registry,
        )

    def observe(self, tool: str, outcome: str, seconds: float) -> None:
        self.tool_calls.labels(tool, outcome).inc()
        self.tool_latency.labels(tool).observe(seconds)

    def reservation(self, tool: str, outcome: str, charged: int) -> None:
        self.reservations.labels(tool, outcome).inc()
        if charged:
            self.credits_charged.labels(tool).inc(charged)

    def render(self) -> bytes:
        return generate_latest(self.registry)
