"""The composition root: builds every service once, in order, and hands each what it uses.

`build_services` is the only place that knows how the parts fit; `serving` runs the background
work of a live server around a block and closes everything afterwards. The app, the CLI and the
tests all start here.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from mcp.server.subscriptions import InMemorySubscriptionBus, ResourceUpdated

from smarthub_mcp.billing.ledger import Ledger, LowBalancePolicy
from smarthub_mcp.billing.meter import Meter
from smarthub_mcp.billing.stores import ledger_store
from smarthub_mcp.billing.stripe_gateway import StripeGateway
from smarthub_mcp.billing.wiring import run_sweeper, send_low_balance_email, signup_hook
from smarthub_mcp.config import AppConfig
from smarthub_mcp.db import Database
from smarthub_mcp.identity.email import SMTP_TIMEOUT_SECONDS, send_email
from smarthub_mcp.identity.email_retry import run_retry_worker
from smarthub_mcp.identity.service import Identity
from smarthub_mcp.jobs import store as job_store
from smarthub_mcp.jobs.engine import JobEngine
from smarthub_mcp.jobs.notices import on_settled, run_deliveries
from smarthub_mcp.jobs.worker import run_workers
from smarthub_mcp.media.storage import Storage
from smarthub_mcp.media.wiring import build_storage
from smarthub_mcp.metrics import Metrics
from smarthub_mcp.moderation.checks import Moderator
from smarthub_mcp.providers.registry import ProviderRegistry
from smarthub_mcp.providers.router import Router
from smarthub_mcp.ratelimit import RateLimiter
from smarthub_mcp.services import Services


def build_services(
    config: AppConfig,
    *,
    db: Database | None = None,
    rate_limiter: RateLimiter | None = None,
    storage: Storage | None = None,
) -> Services:
    """Everything a server, a CLI command or a test needs, on `config`'s database.

    Raises ConfigError (one line) when the signing keys are unusable. `rate_limiter` swaps the
    limiter for a custom policy (tests use one that refuses everything); `storage` the media store
    (tests hand one with their own clock)."""
    settings, secrets = config.settings, config.secrets
    pool = settings.database
    db = db or Database(secrets.database_url, pool_size=pool.pool_size, pool_timeout=pool.pool_timeout_seconds,
                        idle_seconds=pool.idle_seconds)
    limiter = rate_limiter or RateLimiter.from_settings(settings, secrets.redis_url)
    billing = settings.billing
    metrics = Metrics()

    async def notify_low_balance(user_id: str, balance: int, threshold: int) -> None:
        await send_low_balance_email(services, user_id, balance, threshold)

    ledger = Ledger(
        db,
        low_balance=LowBalancePolicy(fixed=billing.low_balance_fixed, percent=billing.low_balance_percent),
        notify_low_balance=notify_low_balance,
        store=ledger_store(db),  # the database's fast path, chosen here once
    )
    meter = Meter(
        db,
        ledger,
        hold_ttl_seconds=billing.hold_ttl_seconds,
        require_verified_email=settings.auth.require_verified_email,
        rate_limiter=limiter,
        metrics=metrics,
    )

    def media_link_secret() -> bytes:
        if secrets.media_signing_secret:
            return secrets.media_signing_secret.encode()
        return services.identity.codec.keys.secret_material()

    # Vendor SDKs load here, at start-up: on the first chat call the import (seconds for
    # some SDKs) would block the event loop and every request and health probe with it.
    router = Router(settings, ProviderRegistry.from_settings(settings, config.environ))
    storage = storage or build_storage(
        settings.storage, config.environ, public_base_url=settings.server.public_base_url,
        link_secret=media_link_secret,
    )
    events = InMemorySubscriptionBus()
    moderator = Moderator(settings.moderation, db, settings.providers, config.environ)

    async def job_changed(job_id: str) -> None:
        await events.publish(ResourceUpdated(f"job://{job_id}"))
        job = await job_store.get(db, job_id)
        if job is not None and job.settled:
            await on_settled(services, job)

    services = Services(
        config=config,
        db=db,
        metrics=metrics,
        rate_limiter=limiter,
        identity=Identity(settings.auth, secrets, db),
        router=router,
        ledger=ledger,
        meter=meter,
        stripe=StripeGateway(config),
        mailer=send_email,
        storage=storage,
        jobs=JobEngine(db, meter, router, storage, settings.jobs, webhook_base=settings.server.public_base_url,
                       webhook_secret=media_link_secret, on_change=job_changed, moderator=moderator,
                       review_hold_seconds=settings.moderation.review_hold_days * 86400),
        events=events,
        moderator=moderator,
    )
    services.user_created_hooks.append(signup_hook(ledger, settings.auth.signup_grant))
    return services


@contextlib.asynccontextmanager
async def serving(services: Services) -> AsyncIterator[Services]:
    """Run the hold sweeper and the email retry worker for the lifetime of a server; then let
    work in flight finish (bounded) and close the providers, the limiter and the store."""
    sweeper = asyncio.create_task(run_sweeper(services), name="hold-sweeper")
    stop_retries = asyncio.Event()
    retries = asyncio.create_task(run_retry_worker(services, stop_retries), name="email-retry")
    stop_jobs = asyncio.Event()
    workers = (asyncio.create_task(run_workers(services.jobs, stop_jobs), name="job-workers")
               if services.settings.jobs.workers else None)
    deliveries = asyncio.create_task(run_deliveries(services, stop_jobs), name="webhook-deliveries")
    try:
        yield services
    finally:
        # Job steps in flight finish (a submit is never abandoned mid-send); their leases go back.
        stop_jobs.set()
        if workers is not None:
            await workers
        await deliveries
        sweeper.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await sweeper
        # Let an email in flight be recorded (bounded by one SMTP timeout), then stop hard.
        stop_retries.set()
        with contextlib.suppress(asyncio.CancelledError, TimeoutError):
            await asyncio.wait_for(retries, SMTP_TIMEOUT_SECONDS + 5)
        await close_services(services)


async def close_services(services: Services) -> None:
    """Let work in flight finish (bounded), then close the providers, the limiter and the store."""
    await services.meter.drain()
    await services.ledger.drain_notifications()
    await services.jobs.aclose()
    await services.moderator.aclose()
    await services.router.aclose()
    await services.rate_limiter.aclose()
    await services.storage.aclose()
    await services.db.close()
