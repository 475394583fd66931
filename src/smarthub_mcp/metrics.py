"""Prometheus metrics, one registry per running app (so two apps in one process stay apart).

Served at `/metrics` (api/health.py) to callers with the `reports:read` permission (a Prometheus scrape job sends
a manager's or admin's API key as its bearer token). Each replica exposes its own counters; the hold gauges are
read from the shared database at scrape time, so every replica reports the same figures (alert on `max`).
deploy/alerts.yml holds example alerts on them.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

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

        self.holds_open = Gauge(
            "smarthub_holds_open", "Holds open now (credits reserved, not settled yet), on all replicas.",
            registry=self.registry,
        )
        self.oldest_hold_age = Gauge(
            "smarthub_hold_oldest_age_seconds", "Age of the oldest open hold (0 when none is open).",
            registry=self.registry,
        )
        self.db_pool_max = Gauge(
            "smarthub_db_pool_max_connections", "Connections this replica's pool may open (database.pool_size).",
            ["pool"], registry=self.registry,
        )
        self.db_pool_open = Gauge(
            "smarthub_db_pool_open_connections", "Connections this replica's pool holds open now.",
            ["pool"], registry=self.registry,
        )
        self.db_pool_in_use = Gauge(
            "smarthub_db_pool_in_use_connections", "Connections of this replica's pool checked out now.",
            ["pool"], registry=self.registry,
        )
        self.webhook_deliveries = Counter(
            "smarthub_webhook_deliveries", "Stripe webhook deliveries by outcome (ok, or the error code answered).",
            ["outcome"], registry=self.registry,
        )

        self.jobs_open = Gauge(
            "smarthub_jobs_open", "Generation jobs not settled yet, by status (queued, submitting, running, unknown).",
            ["status"], registry=self.registry,
        )
        self.oldest_job_age = Gauge(
            "smarthub_job_oldest_open_age_seconds", "Age of the oldest unsettled generation job (0 when none).",
            registry=self.registry,
        )
        self.notices_pending = Gauge(
            "smarthub_job_notices", "Users' job webhook deliveries by state (pending: still being retried; dead:"
            " given up).", ["state"], registry=self.registry,
        )
        self.reviews_pending = Gauge(
            "smarthub_moderation_reviews_pending", "Generated outputs held for an admin's review (the moderation"
            " queue).", registry=self.registry,
        )
        self.oldest_review_age = Gauge(
            "smarthub_moderation_oldest_review_age_seconds", "Age of the oldest output waiting for review (0 when"
            " none).", registry=self.registry,
        )

    def reviews(self, pending: int, oldest_age_seconds: float) -> None:
        self.reviews_pending.set(pending)
        self.oldest_review_age.set(oldest_age_seconds)

    def jobs(self, by_status: dict[str, int], oldest_age_seconds: float, notices: dict[str, int]) -> None:
        for status in ("queued", "submitting", "running", "unknown"):
            self.jobs_open.labels(status).set(by_status.get(status, 0))
        self.oldest_job_age.set(oldest_age_seconds)
        for state in ("pending", "dead"):
            self.notices_pending.labels(state).set(notices.get(state, 0))

    def holds(self, open_count: int, oldest_age_seconds: float) -> None:
        self.holds_open.set(open_count)
        self.oldest_hold_age.set(oldest_age_seconds)

    def pools(self, stats: dict[str, tuple[int, int, int]]) -> None:
        for pool, (most, opened, in_use) in stats.items():
            self.db_pool_max.labels(pool).set(most)
            self.db_pool_open.labels(pool).set(opened)
            self.db_pool_in_use.labels(pool).set(in_use)

    def observe(self, tool: str, outcome: str, seconds: float) -> None:
        self.tool_calls.labels(tool, outcome).inc()
        self.tool_latency.labels(tool).observe(seconds)

    def reservation(self, tool: str, outcome: str, charged: int) -> None:
        self.reservations.labels(tool, outcome).inc()
        if charged:
            self.credits_charged.labels(tool).inc(charged)

    def render(self) -> bytes:
        return generate_latest(self.registry)
