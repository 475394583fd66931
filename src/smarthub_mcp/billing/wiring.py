"""How billing plugs into a running server: the sign-up hook, the low-balance email and the hold sweeper."""

from __future__ import annotations

import asyncio
import logging

from sqlalchemy.ext.asyncio import AsyncConnection

from smarthub_mcp.billing.ledger import Ledger
from smarthub_mcp.billing.money import credits_for_people
from smarthub_mcp.errors import log_failure
from smarthub_mcp.identity.users import email_of
from smarthub_mcp.services import Services, UserCreatedHook

log = logging.getLogger("smarthub.billing")


def signup_hook(ledger: Ledger, amount: int) -> UserCreatedHook:
    """Open the account and grant the sign-up credits (`amount`) in the user's creation transaction."""

    async def hook(conn: AsyncConnection, user_id: str) -> None:
        await ledger.open_account(user_id, conn=conn)
        if amount > 0:
            await ledger.grant(
                user_id, amount, kind="grant", idempotency_key=f"signup:{user_id}", memo="sign-up", conn=conn
            )

    return hook


async def send_low_balance_email(services: Services, user_id: str, balance: int, threshold: int) -> None:
    async with services.db.read() as conn:
        email = await email_of(conn, user_id)
    if email is None:
        return
    subject = "Your SmartHub credits are running low"
    body = (
        f"Your balance is {credits_for_people(balance)}, below your alert level of "
        f"{credits_for_people(threshold)}. Top up to keep your tools running.\n"
    )
    await services.mailer(services, email, subject, body)


async def run_sweeper(services: Services) -> None:
    """Expire holds past their own expiry, with a usage row and a log line each, forever. Many
    replicas may run this at once: every expiry is a compare-and-set on the hold's status, so each
    hold is released exactly once."""
    interval = services.settings.billing.sweep_interval_seconds
    while True:
        try:
            await services.meter.sweep()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log_failure(log, "hold sweep failed; retrying next interval", exc)
        await asyncio.sleep(interval)
