"""Refunds and disputes: how many of a payment's credits go back, computed from the money returned.

The rule: the credits clawed back from a payment are always its credits times the share of its
price the buyer has back, rounded down to the micro-credit, where the money back is the cumulative
refunded amount plus every dispute whose funds are withdrawn (opened or lost), capped at the price.
A dispute that is won or whose funds are reinstated stops counting, and the credits it took come
back. Every event moves the ledger by the difference between that target and what was already
taken, so any order of refunds, disputes and reversals, replayed any number of times, ends in the
same place. Worked example: 100 credits for 10.00; refund 5.00 takes 50; a dispute of 5.00 takes
the other 50; that dispute reinstated gives 50 back.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from smarthub_mcp.billing.ledger import Ledger
from smarthub_mcp.ids import now_ms

log = logging.getLogger("smarthub.payments.webhook")

DISPUTE_EVENTS = frozenset({
    "charge.dispute.created",
    "charge.dispute.updated",
    "charge.dispute.funds_withdrawn",
    "charge.dispute.funds_reinstated",
    "charge.dispute.closed",
})


def dispute_state(event_type: str, dispute: dict[str, Any]) -> tuple[bool, bool]:
    """(money returned to the buyer?, final?) for one dispute event.

    Stripe withdraws the disputed amount when a dispute opens; an inquiry (`warning_*`) withdraws
    nothing; a won dispute, or one whose funds are reinstated, gives the money back to the seller."""
    status = str(dispute.get("status") or "")
    if event_type == "charge.dispute.funds_reinstated" or status in ("won", "warning_closed"):
        return False, True
    if status == "lost":
        return True, True
    if status.startswith("warning_"):
        return False, False
    return True, False


def share(payment: Any, amount_minor: int) -> int:
    """The credits `amount_minor` of the payment bought, in whole micro-credits (rounded down)."""
    return payment.credits * min(amount_minor, payment.amount_minor) // payment.amount_minor


async def record_dispute(
    conn: AsyncConnection, payment: Any, dispute: dict[str, Any], returned: bool, final: bool
) -> None:
    """Keep the dispute's latest state; a non-final event never overrides a final one (late delivery)."""
    amount = dispute.get("amount")
    if not isinstance(amount, int) or isinstance(amount, bool) or amount < 0:
        amount = payment.amount_minor  # a dispute without an amount disputes the whole payment
    await conn.execute(
        text(
            "INSERT INTO payment_disputes (id, payment_id, amount_minor, returned, final, status, updated_at)"
            " VALUES (:id, :p, :a, :r, :f, :s, :now)"
            " ON CONFLICT (id) DO UPDATE SET amount_minor = excluded.amount_minor, returned = excluded.returned,"
            " final = excluded.final, status = excluded.status, updated_at = excluded.updated_at"
            " WHERE payment_disputes.final = 0 OR excluded.final = 1"
        ),
        {"id": str(dispute.get("id"))[:200], "p": payment.id, "a": min(amount, payment.amount_minor),
         "r": int(returned), "f": int(final), "s": str(dispute.get("status") or "")[:50], "now": now_ms()},
    )


async def money_returned(conn: AsyncConnection, payment_id: str) -> int:
    """Refunded (cumulative) plus withdrawn by disputes, in the payment's minor units (uncapped)."""
    row = (await conn.execute(
        text("SELECT p.amount_refunded_minor + COALESCE((SELECT SUM(d.amount_minor) FROM payment_disputes d"
             " WHERE d.payment_id = p.id AND d.returned = 1), 0) FROM payments p WHERE p.id = :id"),
        {"id": payment_id},
    )).first()
    return int(row[0]) if row else 0


async def follow_money(ledger: Ledger, conn: AsyncConnection, payment: Any, event_id: str, why: str) -> str:
    """Move the ledger so this payment's clawback matches the money returned now. The payment row is
    locked by the caller; the entry is keyed on the event, which is processed once."""
    target = share(payment, await money_returned(conn, payment.id))
    delta = target - payment.credits_clawed_back
    if delta == 0:
        return "clawback_none"
    if delta > 0:
        entry = await ledger.debit(
            payment.user_id, delta, kind="reversal", idempotency_key=f"stripe-clawback:{event_id}",
            allow_negative=True, reference=payment.id, memo=f"{why} of payment {payment.id}", conn=conn,
        )
        shortfall = payment.clawback_shortfall + min(delta, max(0, -entry.balance_after))
        outcome = "clawed_back_negative_balance" if shortfall > payment.clawback_shortfall else "clawed_back"
    else:
        await ledger.adjust(
            payment.user_id, -delta, reason=f"{why}: payment {payment.id} funds reinstated", actor_id=None,
            idempotency_key=f"stripe-restore:{event_id}", conn=conn,
        )
        # Credits given back first cover what the user could not pay when they were taken.
        shortfall = min(max(0, payment.clawback_shortfall + delta), target)
        outcome = "credits_restored"
    await conn.execute(
        text("UPDATE payments SET credits_clawed_back = :t, clawback_shortfall = :s, updated_at = :now"
             " WHERE id = :id"),
        {"t": target, "s": shortfall, "now": now_ms(), "id": payment.id},
    )
    if outcome == "clawed_back_negative_balance":
        log.warning("clawback of payment %s left user %s with %d micro-credits it had already spent",
                    payment.id, payment.user_id, shortfall)
    return outcome
