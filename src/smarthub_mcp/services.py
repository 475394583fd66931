"""`Services`: what a running server shares, built once by the composition root (`compose.py`).

A plain container of finished objects: nothing here is built on first use, nothing is looked up
by name. Service modules receive it (or, better, the one field they use) and never import the
packages that fill it, so the container sits low in the layers and every import points down.
Two containers in one process (two replicas in a test) share nothing.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncConnection

from smarthub_mcp.config import AppConfig, Secrets, Settings
from smarthub_mcp.db import Database

if TYPE_CHECKING:  # the types only: the objects are made by compose.build_services
    from mcp.server.subscriptions import SubscriptionBus

    from smarthub_mcp.billing.ledger import Ledger
    from smarthub_mcp.billing.meter import Meter
    from smarthub_mcp.billing.stripe_gateway import StripeGateway
    from smarthub_mcp.identity.service import Identity
    from smarthub_mcp.jobs.engine import JobEngine
    from smarthub_mcp.media.storage import Storage
    from smarthub_mcp.metrics import Metrics
    from smarthub_mcp.moderation.checks import Moderator
    from smarthub_mcp.providers.router import Router
    from smarthub_mcp.ratelimit import RateLimiter

UserCreatedHook = Callable[[AsyncConnection, str], Awaitable[None]]
"""Called inside the transaction that creates a user, with that transaction's connection and the
user id: the ledger opens the credit account and grants the sign-up credits here, so a user never
exists without an account."""

Mailer = Callable[["Services", str, str, str], Awaitable[object]]
"""Sends one email (to, subject, body) through the outbox: identity's `send_email`."""


@dataclass(eq=False)
class Services:
    config: AppConfig
    db: Database
    metrics: Metrics
    rate_limiter: RateLimiter
    identity: Identity
    router: Router
    ledger: Ledger
    meter: Meter
    stripe: StripeGateway
    mailer: Mailer
    storage: Storage
    jobs: JobEngine
    events: SubscriptionBus
    moderator: Moderator
    """Change events for MCP clients that listen (2026-07-28 `subscriptions/listen`): `job://{id}` updates."""
    user_created_hooks: list[UserCreatedHook] = field(default_factory=list)

    @property
    def settings(self) -> Settings:
        return self.config.settings

    @property
    def secrets(self) -> Secrets:
        return self.config.secrets
