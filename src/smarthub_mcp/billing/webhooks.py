"""Stripe webhooks: verify, record each event once, and move credits through the ledger.

Each event is handled in one write transaction that (1) records the event id, (2) claims it with
a compare-and-set on `processed_at IS NULL` (a replay, concurrent or late, finds it processed and
changes nothing), (3) updates the payment row and posts the ledger entry on the same connection.
The payment row is locked (PostgreSQL `FOR UPDATE`; SQLite writes are serialized) so a refund and
a dispute for one payment are applied one after the other. Grants are keyed on the Checkout
Session id and clawbacks on the event (see clawbacks.py for how much), so even a bug upstream of
the ledger cannot credit twice. Events for unknown sessions, or that arrive out of order, are stored with
their outcome and answered 200; Stripe need not resend them.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from smarthub_mcp.billing.clawbacks import DISPUTE_EVENTS, dispute_state, follow_money, record_dispute
from smarthub_mcp.billing.errors import PaymentMismatch
from smarthub_mcp.billing.payments import PAYMENT_COLUMNS, confirmation_email
from smarthub_mcp.errors import InvalidRequest, SmartHubError
from smarthub_mcp.identity.audit import write_audit
from smarthub_mcp.identity.users import email_of
from smarthub_mcp.ids import new_id, now_ms
from smarthub_mcp.services import Services

log = logging.getLogger("smarthub.payments.webhook")

PostCommit = Callable[[], Awaitable[None]]


class WebhookFailed(SmartHubError):
    """Handling failed on our side; Stripe retries on a non-2xx answer."""

    code = "webhook_failed"
    status = 500


@dataclass
class Outcome:
    event_id: str
    type: str
    outcome: str
    payment_id: str | None = None
    replay: bool = False
    after_commit: list[PostCommit] = field(default_factory=list)
    refuse: SmartHubError | None = None


async def handle_webhook(services: Services, payload: bytes, signature: str | None) -> Outcome:
    """Verify and handle one delivery. Raises InvalidSignature or InvalidWebhookEvent (400, nothing stored),
    PaymentMismatch (400), WebhookFailed (500, retried)."""
    tolerance = services.settings.payments.webhook_tolerance_seconds
    try:
        event = services.stripe.verify_event(payload, signature, tolerance=tolerance)
    except InvalidRequest as exc:  # one line, no body: Stripe's resends would repeat it verbatim
        log.warning("stripe webhook refused (%s): %s", exc.code, exc.message)
        raise
    event_id, type_ = event["id"], event["type"]
    try:
        async with services.db.write() as conn:
            await conn.execute(
                text(
                    "INSERT INTO stripe_events (id, type, payload, received_at) VALUES (:id, :t, :p, :now)"
                    " ON CONFLICT (id) DO NOTHING"
                ),
                {"id": event_id, "t": type_, "p": payload.decode("utf-8"), "now": now_ms()},
            )
            claimed = (await conn.execute(
                text("UPDATE stripe_events SET attempts = attempts + 1 WHERE id = :id AND processed_at IS NULL"
                     " RETURNING id"),
                {"id": event_id},
            )).first()
            if claimed is None:
                log.info("stripe event %s (%s) already processed; replay ignored", event_id, type_)
                return Outcome(event_id, type_, "replay", replay=True)
            result = Outcome(event_id, type_, "ignored")
            await _dispatch(services, conn, event, result)
            await conn.execute(
                text("UPDATE stripe_events SET processed_at = :now, outcome = :o, payment_id = :p WHERE id = :id"),
                {"now": now_ms(), "o": result.outcome, "p": result.payment_id, "id": event_id},
            )
    except Exception as exc:
        # Stored, not processed: the retry Stripe sends later runs it again.
        code = exc.code if isinstance(exc, SmartHubError) else type(exc).__name__
        log.exception("stripe event %s (%s) failed: %s", event_id, type_, code)
        await _record_failure(services, event_id, type_, payload, f"error:{code}")
        raise WebhookFailed("The event could not be processed; it will be retried.") from None
    log.info("stripe event %s (%s): %s", event_id, type_, result.outcome)
    for action in result.after_commit:
        try:
            await action()
        except Exception:  # a notification must never fail a processed payment
            log.exception("post-payment action failed for %s", event_id)
    if result.refuse is not None:
        raise result.refuse
    return result


async def _record_failure(services: Services, event_id: str, type_: str, payload: bytes, outcome: str) -> None:
    async with services.db.write() as conn:
        await conn.execute(
            text("INSERT INTO stripe_events (id, type, payload, received_at, outcome) VALUES (:id, :t, :p, :now, :o)"
                 " ON CONFLICT (id) DO UPDATE SET outcome = :o"),
            {"id": event_id, "t": type_, "p": payload.decode("utf-8", "replace"), "now": now_ms(), "o": outcome},
        )


async def _dispatch(services: Services, conn: AsyncConnection, event: dict[str, Any], result: Outcome) -> None:
    obj = (event.get("data") or {}).get("object") or {}
    type_ = event["type"]
    if type_ in ("checkout.session.completed", "checkout.session.async_payment_succeeded"):
        await _session_paid(services, conn, obj, result)
    elif type_ == "checkout.session.async_payment_failed":
        await _session_closed(conn, obj, result, "failed", "async_payment_failed")
    elif type_ == "checkout.session.expired":
        await _session_closed(conn, obj, result, "expired", "checkout_expired")
    elif type_ == "charge.refunded":
        await _charge_refunded(services, conn, obj, result)
    elif type_ in DISPUTE_EVENTS:
        await _dispute_event(services, conn, type_, obj, result)


# --- finding the payment ------------------------------------------------------------------------


async def _lock_payment(conn: AsyncConnection, where: str, value: str) -> Any:
    lock = "" if conn.dialect.name == "sqlite" else " FOR UPDATE"
    sql = f"SELECT {PAYMENT_COLUMNS} FROM payments WHERE {where} = :v{lock}"
    return (await conn.execute(text(sql), {"v": value})).first()


async def _payment_for_session(conn: AsyncConnection, session: dict[str, Any]) -> Any:
    sid = session.get("id")
    row = await _lock_payment(conn, "stripe_session_id", sid) if isinstance(sid, str) else None
    if row is None:
        # The webhook beat our own write of the session id (or that write was lost): the payment id
        # travels in the metadata we set.
        pid = (session.get("metadata") or {}).get("payment_id")
        if isinstance(pid, str):
            row = await _lock_payment(conn, "id", pid)
            if row is not None and row.stripe_session_id not in (None, sid):
                return None
            if row is not None and row.stripe_session_id is None:
                await conn.execute(text("UPDATE payments SET stripe_session_id = :s WHERE id = :id"),
                                   {"s": sid, "id": pid})
    return row


async def _payment_for_charge(conn: AsyncConnection, obj: dict[str, Any]) -> Any:
    intent = obj.get("payment_intent")
    return await _lock_payment(conn, "payment_intent", intent) if isinstance(intent, str) else None


# --- checkout sessions --------------------------------------------------------------------------


async def _session_paid(services: Services, conn: AsyncConnection, session: dict[str, Any], result: Outcome) -> None:
    payment = await _payment_for_session(conn, session)
    if payment is None:
        log.warning("stripe session %s matches no payment; stored for review", session.get("id"))
        result.outcome = "unknown_session"
        return
    result.payment_id = payment.id
    intent = session.get("payment_intent")
    if isinstance(intent, str) and payment.payment_intent is None:
        await conn.execute(text("UPDATE payments SET payment_intent = :pi, updated_at = :now WHERE id = :id"),
                           {"pi": intent, "now": now_ms(), "id": payment.id})
    if session.get("payment_status") not in ("paid", "no_payment_required"):
        result.outcome = "awaiting_payment"  # a delayed method: async_payment_succeeded follows
        return
    problem = _mismatch(payment, session)
    if problem is not None:
        log.error("stripe session %s refused: %s", session.get("id"), problem)
        await conn.execute(
            text("UPDATE payments SET status = 'failed', failure_reason = :r, updated_at = :now"
                 " WHERE id = :id AND status = 'pending'"),
            {"r": problem, "now": now_ms(), "id": payment.id},
        )
        result.outcome = "mismatch"
        result.refuse = PaymentMismatch("The paid amount does not match the package.", details={"problem": problem})
        return
    now = now_ms()
    won = (await conn.execute(
        text("UPDATE payments SET status = 'paid', paid_at = :now, updated_at = :now"
             " WHERE id = :id AND status = 'pending' RETURNING id"),
        {"now": now, "id": payment.id},
    )).first()
    if won is None:
        result.outcome = f"already_{payment.status}"
        return
    ledger = services.ledger
    await ledger.open_account(payment.user_id, conn=conn)
    entry = await ledger.grant(
        payment.user_id, payment.credits, kind="purchase", idempotency_key=f"stripe:{payment.stripe_session_id}",
        reference=payment.id, memo=f"package {payment.package_id}", conn=conn,
    )
    await conn.execute(text("UPDATE payments SET grant_entry_id = :e WHERE id = :id"),
                       {"e": entry.id, "id": payment.id})
    result.outcome = "credited"
    result.after_commit.append(lambda: _send_confirmation(services, payment, entry.balance_after))


def _mismatch(payment: Any, session: dict[str, Any]) -> str | None:
    amount, currency = session.get("amount_total"), str(session.get("currency") or "").lower()
    if amount != payment.amount_minor or currency != payment.currency:
        return f"expected {payment.amount_minor} {payment.currency}, got {amount} {currency or '?'}"
    ref = session.get("client_reference_id")
    if ref is not None and ref != payment.user_id:
        return "client_reference_id does not match the buyer"
    return None


async def _session_closed(
    conn: AsyncConnection, session: dict[str, Any], result: Outcome, status: str, reason: str
) -> None:
    payment = await _payment_for_session(conn, session)
    if payment is None:
        result.outcome = "unknown_session"
        return
    result.payment_id = payment.id
    changed = (await conn.execute(
        text("UPDATE payments SET status = :s, failure_reason = :r, updated_at = :now"
             " WHERE id = :id AND status = 'pending' RETURNING id"),
        {"s": status, "r": reason, "now": now_ms(), "id": payment.id},
    )).first()
    result.outcome = status if changed else f"ignored_{payment.status}"


# --- refunds and disputes -----------------------------------------------------------------------


async def _charge_refunded(services: Services, conn: AsyncConnection, charge: dict[str, Any], result: Outcome) -> None:
    payment = await _payment_for_charge(conn, charge)
    if payment is None:
        log.warning("refund for unknown payment intent %s; stored", charge.get("payment_intent"))
        result.outcome = "unknown_payment"
        return
    result.payment_id = payment.id
    refunded = min(int(charge.get("amount_refunded") or 0), payment.amount_minor)
    refunded = max(refunded, payment.amount_refunded_minor)  # refund events may arrive out of order
    full = refunded >= payment.amount_minor
    status = payment.status
    if status in ("pending", "paid", "partially_refunded", "refunded"):
        status = "refunded" if full else "partially_refunded"
    await conn.execute(
        text("UPDATE payments SET amount_refunded_minor = :r, status = :s, updated_at = :now WHERE id = :id"),
        {"r": refunded, "s": status, "now": now_ms(), "id": payment.id},
    )
    if payment.grant_entry_id is None:
        # Refunded before it was ever credited: the status change alone stops a later grant.
        result.outcome = "refunded_before_credit"
        return
    payment = await _lock_payment(conn, "id", payment.id)  # re-read: the refund total just changed
    result.outcome = await follow_money(services.ledger, conn, payment, result.event_id, "refund")


async def _dispute_event(
    services: Services, conn: AsyncConnection, type_: str, dispute: dict[str, Any], result: Outcome
) -> None:
    payment = await _payment_for_charge(conn, dispute)
    if payment is None:
        log.warning("dispute for unknown payment intent %s; stored", dispute.get("payment_intent"))
        result.outcome = "unknown_payment"
        return
    result.payment_id = payment.id
    returned, final = dispute_state(type_, dispute)
    await record_dispute(conn, payment, dispute, returned, final)
    if type_ == "charge.dispute.created":
        await _flag_disputed(conn, payment, dispute)
    if payment.grant_entry_id is None:
        result.outcome = "disputed_before_credit"
        return
    payment = await _lock_payment(conn, "id", payment.id)
    result.outcome = "disputed_" + await follow_money(services.ledger, conn, payment, result.event_id, "dispute")


async def _flag_disputed(conn: AsyncConnection, payment: Any, dispute: dict[str, Any]) -> None:
    """Mark the payment disputed and flag its buyer for an operator's review (once per payment)."""
    now = now_ms()
    await conn.execute(text("UPDATE payments SET status = 'disputed', updated_at = :now WHERE id = :id"),
                       {"now": now, "id": payment.id})
    reason = f"dispute {dispute.get('id')}: {dispute.get('reason') or 'unknown reason'}"
    await conn.execute(
        text("INSERT INTO payment_flags (id, user_id, payment_id, reason, created_at)"
             " VALUES (:id, :u, :p, :r, :now) ON CONFLICT (payment_id) DO NOTHING"),
        {"id": new_id("flag"), "u": payment.user_id, "p": payment.id, "r": reason[:500], "now": now},
    )
    await write_audit(conn, actor_id=None, action="payment.disputed", target_type="user", target_id=payment.user_id,
                      after={"payment_id": payment.id, "dispute": dispute.get("id")})
    log.warning("user %s flagged: %s", payment.user_id, reason)


async def _send_confirmation(services: Services, payment: Any, balance: int) -> None:
    async with services.db.read() as conn:
        email = await email_of(conn, payment.user_id)
    if email:
        subject, body = confirmation_email(payment.package_id, payment.credits, balance)
        await services.mailer(services, email, subject, body)
