"""The objects a running server shares: settings, the store, and the services built on them.

Built once per app (or per CLI command, or per test) and handed down explicitly; there are no
module-level singletons, so two apps in one process (two replicas in a test) stay apart.
Packages add their service here as they arrive.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import AsyncConnection

from smarthub_mcp.config import AppConfig
from smarthub_mcp.db import Database

if TYPE_CHECKING:
    from smarthub_mcp.billing.ledger import Ledger
    from smarthub_mcp.billing.meter import Meter
    from smarthub_mcp.identity.service import Identity
    from smarthub_mcp.metrics import Metrics
    from smarthub_mcp.providers.router import Router
    from smarthub_mcp.ratelimit import RateLimiter

UserCreatedHook = Callable[[AsyncConnection, str], Awaitable[None]]
"""Called inside the transaction that creates a user, with that transaction's connection and the
user id: the ledger opens the credit account and grants the sign-up credits here, so a user never
exists without an account."""


@dataclass
class Services:
    config: AppConfig
    db: Database
    user_created_hooks: list[UserCreatedHook] = field(default_factory=list)
    extras: dict[str, Any] = field(default_factory=dict)
    _router: Router | None = field(default=None, init=False, repr=False)
    _rate_limiter: RateLimiter | None = field(default=None, init=False, repr=False)
    _ledger: Ledger | None = field(default=None, init=False, repr=False)
    _meter: Meter | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        from smarthub_mcp.billing.wiring import signup_hook

        self.user_created_hooks.append(signup_hook(self))

    @property
    def ledger(self) -> Ledger:
        """The only writer of balances."""
        if self._ledger is None:
            from smarthub_mcp.billing.wiring import build_ledger

            self._ledger = build_ledger(self)
        return self._ledger

    @property
    def meter(self) -> Meter:
        """The wrapper every tool call goes through (built on first use, after rate_limiter is set)."""
        if self._meter is None:
            from smarthub_mcp.billing.wiring import build_meter

            self._meter = build_meter(self)
        return self._meter

    @property
    def settings(self):  # type: ignore[no-untyped-def]
        return self.config.settings

    @property
    def secrets(self):  # type: ignore[no-untyped-def]
        return self.config.secrets

    @property
    def router(self) -> Router:
        """Model routes over every configured provider (clients built once, on first use)."""
        if self._router is None:
            from smarthub_mcp.providers.registry import ProviderRegistry
            from smarthub_mcp.providers.router import Router

            registry = ProviderRegistry.from_settings(self.settings, self.config.environ)
            self._router = Router(self.settings, registry)
        return self._router

    @property
    def rate_limiter(self) -> RateLimiter:
        """Per-user request and token limits; in Redis when SMARTHUB_REDIS_URL is set."""
        if self._rate_limiter is None:
            from smarthub_mcp.ratelimit import RateLimiter

            self._rate_limiter = RateLimiter.from_settings(self.settings, self.secrets.redis_url)
        return self._rate_limiter

    @rate_limiter.setter
    def rate_limiter(self, limiter: RateLimiter) -> None:
        """Swap the limiter (before the meter is first built): for tests and custom policies."""
        self._rate_limiter = limiter

    @functools.cached_property
    def identity(self) -> Identity:
        """Key material and the role cache; raises ConfigError when the signing keys are unusable."""
        from smarthub_mcp.identity.service import Identity

        return Identity(self)

    @functools.cached_property
    def metrics(self) -> Metrics:
        """Prometheus counters for this app (served at /metrics)."""
        from smarthub_mcp.metrics import Metrics

        return Metrics()

    @classmethod
    def create(cls, config: AppConfig, *, db: Database | None = None) -> Services:
        return cls(config=config, db=db or Database(config.secrets.database_url))

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[Services]:
        """Start background work for the lifetime of a server; close the store afterwards."""
        from smarthub_mcp.billing.wiring import run_sweeper
        from smarthub_mcp.identity.email import SMTP_TIMEOUT_SECONDS
        from smarthub_mcp.identity.email_retry import run_retry_worker

        # Build the providers before serving: importing the vendor SDKs takes seconds (anthropic
        # alone 3-4 s here) and would otherwise land on the first chat call, blocking the event
        # loop, and so every other request and health probe, while it runs.
        self.router  # noqa: B018
        sweeper = asyncio.create_task(run_sweeper(self), name="hold-sweeper")
        stop_retries = asyncio.Event()
        retries = asyncio.create_task(run_retry_worker(self, stop_retries), name="email-retry")
        try:
            yield self
        finally:
            sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sweeper
            # Let an email in flight be recorded (bounded by one SMTP timeout), then stop hard.
            stop_retries.set()
            with contextlib.suppress(asyncio.CancelledError, TimeoutError):
                await asyncio.wait_for(retries, SMTP_TIMEOUT_SECONDS + 5)
            if self._meter is not None:
                await self._meter.drain()
            if self._ledger is not None:
                await self._ledger.drain_notifications()
            if self._router is not None:
                await self._router.aclose()
            if self._rate_limiter is not None:
                await self._rate_limiter.aclose()
            await self.db.close()
