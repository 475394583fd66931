"""How billing plugs into `Services`: the ledger and meter it builds, the sign-up hook, the
low-balance email and the hold sweeper."""

from __future__ import annotations

import asyncio
import importlib
import logging
from typing import TYPE_CHECKING

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from smarthub_mcp.billing.ledger import Ledger, LowBalancePolicy
from smarthub_mcp.billing.meter import Meter
from smarthub_mcp.billing.money import credits_for_people

if TYPE_CHECKING:
    from smarthub_mcp.services import Services

log = logging.getLogger("smarthub.billing")


def build_ledger(services: Services) -> Ledger:
    billing = services.settings.billing

    async def notify(user_id: str, balance: int, threshold: int) -> None:
        await send_low_balance_email(services, user_id, balance, threshold)

    policy = LowBalancePolicy(fixed=billing.low_balance_fixed, percent=billing.low_balance_percent)
    return Ledger(services.db, low_balance=policy, notify_low_balance=notify)


def build_meter(services: Services) -> Meter:
    return Meter(
        services.db,
        services.ledger,
        hold_ttl_seconds=services.settings.billing.hold_ttl_seconds,
        require_verified_email=services.settings.auth.require_verified_email,
        rate_limiter=services.rate_limiter,
    )


def signup_hook(services: Services):  # type: ignore[no-untyped-def]
    """Open the account and grant the sign-up credits in the user's creation transaction."""

    async def hook(conn: AsyncConnection, user_id: str) -> None:
        await services.ledger.open_account(user_id, conn=conn)
        amount = services.settings.auth.signup_grant
        if amount > 0:
            await services.ledger.grant(
                user_id, amount, kind="grant", idempotency_key=f"signup:{user_id}", memo="sign-up", conn=conn
            )

    return hook


async def send_low_balance_email(services: Services, user_id: str, balance: int, threshold: int) -> None:
    async with services.db.read() as conn:
        email = (await conn.execute(text("SELECT email FROM users WHERE id = :u"), {"u": user_id})).scalar()
    if email is None:
        return
    subject = "Your SmartHub credits are running low"
    body = (
        f"Your balance is {credits_for_people(balance)}, below your alert level of "
        f"{credits_for_people(threshold)}. Top up to keep your tools running.\n"
    )
    sender = _identity_send_email()
    if sender is None:  # the identity package's mailer is not here: the log is the mailbox
        log.info("low-balance email to %s: %s", email, subject, extra={"email_to": email, "email_body": body})
        return
    await sender(services, email, subject, body)


def _identity_send_email():  # type: ignore[no-untyped-def]
    try:
        module = importlib.import_module("smarthub_mcp.identity.email")
    except ImportError:
        return None
    return getattr(module, "send_email", None)


async def run_sweeper(services: Services) -> None:
    """Expire holds past their TTL, forever. Many replicas may run this at once: every expiry is
    a compare-and-set on the hold's status, so each hold is released exactly once."""
    interval = services.settings.billing.sweep_interval_seconds
    while True:
        try:
            expired = await services.ledger.expire_holds()
            if expired:
                log.info("released %d expired holds", expired)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("hold sweep failed; retrying next interval")
        await asyncio.sleep(interval)
