"""Buying credits: the package list, Checkout Sessions, and the payment records admins read.

A purchase writes a `pending` payment row first, then asks Stripe for a Checkout Session with the
row's id as idempotency key and in the session metadata, so every webhook can find its payment.
Credits are granted only by the webhook (billing/webhooks.py), never by the success redirect,
which anyone can open.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from smarthub_mcp import pages
from smarthub_mcp.billing.errors import PaymentProviderError, UnknownPackage
from smarthub_mcp.billing.money import credits_for_people, format_credits
from smarthub_mcp.config import PackageConfig, Settings
from smarthub_mcp.errors import InvalidRequest
from smarthub_mcp.identity.principal import Principal
from smarthub_mcp.ids import new_id, now_ms
from smarthub_mcp.services import Services

log = logging.getLogger("smarthub.payments")

MAX_PAGE = 200
PAYMENT_STATUSES = ("pending", "paid", "failed", "expired", "refunded", "partially_refunded", "disputed")
PAYMENT_COLUMNS = (
    "id, user_id, package_id, amount_minor, currency, credits, status, stripe_session_id, payment_intent, "
    "amount_refunded_minor, credits_clawed_back, clawback_shortfall, grant_entry_id, failure_reason, "
    "created_at, updated_at, paid_at"
)


@dataclass(frozen=True, slots=True)
class Checkout:
    url: str
    session_id: str
    payment_id: str
    package: PackageConfig


def package_view(package: PackageConfig) -> dict[str, Any]:
    return {
        "id": package.id,
        "name": package.name,
        "credits": format_credits(package.credits),
        "price_minor": package.price_minor,
        "currency": package.currency.lower(),
        "price": f"{package.price_minor / 100:.2f} {package.currency.upper()}",  # display only
    }


def list_packages(settings: Settings) -> list[dict[str, Any]]:
    """The credit packages for sale, as the API and the `buy_credits` tool show them."""
    return [package_view(p) for p in settings.packages]


def find_package(settings: Settings, package_id: str) -> PackageConfig:
    for package in settings.packages:
        if package.id == package_id:
            return package
    raise UnknownPackage(
        f"There is no credit package {package_id!r}.",
        details={"package_id": package_id, "available": [p.id for p in settings.packages]},
    )


async def create_checkout(services: Services, principal: Principal, package_id: str) -> Checkout:
    """Start buying `package_id`: a pending payment and a Stripe Checkout Session; returns its URL."""
    package = find_package(services.settings, package_id)
    gw = services.stripe
    gw.ensure_configured()  # before any row is written: no key, no pending payment
    payment_id = new_id("pay")
    now = now_ms()
    async with services.db.write() as conn:
        await conn.execute(
            text(
                "INSERT INTO payments (id, user_id, package_id, amount_minor, currency, credits, status,"
                " created_at, updated_at) VALUES (:id, :u, :p, :amt, :cur, :cr, 'pending', :now, :now)"
            ),
            {"id": payment_id, "u": principal.user_id, "p": package.id, "amt": package.price_minor,
             "cur": package.currency.lower(), "cr": package.credits, "now": now},
        )
    try:
        session = await gw.create_checkout_session(
            payment_id=payment_id, user_id=principal.user_id, email=principal.email, package=package
        )
    except PaymentProviderError as exc:
        await _set_failed(services, payment_id, "checkout_create_failed")
        raise exc
    async with services.db.write() as conn:
        await conn.execute(
            text("UPDATE payments SET stripe_session_id = :s, checkout_url = :url, updated_at = :now WHERE id = :id"),
            {"s": session.id, "url": session.url, "now": now_ms(), "id": payment_id},
        )
    log.info("checkout %s started for %s (%s)", session.id, principal.user_id, package.id)
    return Checkout(url=session.url, session_id=session.id, payment_id=payment_id, package=package)


async def _set_failed(services: Services, payment_id: str, reason: str) -> None:
    async with services.db.write() as conn:
        await conn.execute(
            text("UPDATE payments SET status = 'failed', failure_reason = :r, updated_at = :now"
                 " WHERE id = :id AND status = 'pending'"),
            {"r": reason, "now": now_ms(), "id": payment_id},
        )


def payment_view(row: Any) -> dict[str, Any]:
    m = row._mapping
    return {
        "id": m["id"],
        "user_id": m["user_id"],
        "package_id": m["package_id"],
        "amount_minor": m["amount_minor"],
        "currency": m["currency"],
        "credits": format_credits(m["credits"]),
        "status": m["status"],
        "stripe_session_id": m["stripe_session_id"],
        "payment_intent": m["payment_intent"],
        "amount_refunded_minor": m["amount_refunded_minor"],
        "credits_clawed_back": format_credits(m["credits_clawed_back"]),
        "clawback_shortfall": format_credits(m["clawback_shortfall"]),
        "failure_reason": m["failure_reason"],
        "created_at": m["created_at"],
        "paid_at": m["paid_at"],
    }


async def list_payments(
    services: Services,
    *,
    status: str | None = None,
    user_id: str | None = None,
    since_ms: int | None = None,
    until_ms: int | None = None,
    cursor: str | None = None,
    limit: int = 50,
) -> tuple[list[dict[str, Any]], str | None]:
    """Payments newest first, filtered; pass the returned cursor for the next page (None: no more)."""
    if status is not None and status not in PAYMENT_STATUSES:
        raise InvalidRequest(f"status must be one of {', '.join(PAYMENT_STATUSES)}", details={"status": status})
    if not 1 <= limit <= MAX_PAGE:
        raise InvalidRequest(f"limit must be between 1 and {MAX_PAGE}")
    params: dict[str, Any] = {"n": limit + 1}
    conditions = pages.where(params, [
        ("status = :status", "status", status),
        ("user_id = :user", "user", user_id),
        ("created_at >= :since", "since", since_ms),
        ("created_at < :until", "until", until_ms),
        ("id < :cursor", "cursor", cursor),  # ids sort by creation
    ])
    sql = f"SELECT {PAYMENT_COLUMNS} FROM payments WHERE {conditions} ORDER BY id DESC LIMIT :n"
    async with services.db.read() as conn:
        rows = list(await conn.execute(text(sql), params))
    shown, next_cursor = pages.page(rows, limit, pages.row_id)
    return [payment_view(r) for r in shown], next_cursor


async def payments_summary(
    services: Services, *, since_ms: int | None = None, until_ms: int | None = None
) -> list[dict[str, Any]]:
    """Money in and credits sold, per currency, for the credit report (payments created in the window)."""
    where, params = ["status <> 'pending'", "status <> 'failed'", "status <> 'expired'"], {}
    if since_ms is not None:
        where.append("created_at >= :since")
        params["since"] = since_ms
    if until_ms is not None:
        where.append("created_at < :until")
        params["until"] = until_ms
    sql = (
        "SELECT currency, COUNT(*), COALESCE(SUM(amount_minor), 0), COALESCE(SUM(amount_refunded_minor), 0),"
        " COALESCE(SUM(credits), 0), COALESCE(SUM(credits_clawed_back), 0), COALESCE(SUM(clawback_shortfall), 0),"
        " COALESCE(SUM(CASE WHEN status = 'disputed' THEN 1 ELSE 0 END), 0)"
        f" FROM payments WHERE {' AND '.join(where)} GROUP BY currency ORDER BY currency"
    )
    async with services.db.read() as conn:
        rows = list(await conn.execute(text(sql), params))
    return [
        {
            "currency": r[0],
            "payments": int(r[1]),
            "gross_minor": int(r[2]),
            "refunded_minor": int(r[3]),
            "net_minor": int(r[2]) - int(r[3]),
            "credits_sold": format_credits(int(r[4])),
            "credits_clawed_back": format_credits(int(r[5])),
            "clawback_shortfall": format_credits(int(r[6])),
            "disputes": int(r[7]),
        }
        for r in rows
    ]


def confirmation_email(package_id: str, credits: int, balance: int) -> tuple[str, str]:
    subject = "Your SmartHub credits have arrived"
    body = (
        f"Thank you for your purchase ({package_id}).\n\n"
        f"{credits_for_people(credits)} were added to your account; your balance is now "
        f"{credits_for_people(balance)}.\n"
    )
    return subject, body


async def report_rows(conn: AsyncConnection, since: int, until: int) -> list[dict[str, Any]]:
    """Clawbacks (refunds, disputes) and their shortfalls, by user and day, in the credit report's row shape."""
    day = 86_400_000
    clawbacks = await conn.execute(
        text(
            "SELECT u.email, CASE WHEN l.memo LIKE 'dispute%' THEN 'dispute' ELSE 'refund' END, l.created_at / :d,"
            " COUNT(*), CAST(SUM(l.amount) AS BIGINT)"
            " FROM ledger_entries l JOIN payments p ON p.id = l.reference JOIN users u ON u.id = l.account_id"
            " WHERE l.kind = 'reversal' AND l.created_at >= :s AND l.created_at < :e"
            " GROUP BY u.email, 2, l.created_at / :d ORDER BY 3, 1, 2"
        ),
        {"d": day, "s": since, "e": until},
    )
    out = [
        {"type": "clawback", "email": email, "model": None, "kind": kind, "day": _day(int(d) * day), "count": n,
         "amount": format_credits(total)}
        for email, kind, d, n, total in clawbacks
    ]
    shortfalls = await conn.execute(
        text(
            "SELECT u.email, p.updated_at / :d, COUNT(*), CAST(SUM(p.clawback_shortfall) AS BIGINT)"
            " FROM payments p JOIN users u ON u.id = p.user_id"
            " WHERE p.clawback_shortfall > 0 AND p.updated_at >= :s AND p.updated_at < :e"
            " GROUP BY u.email, p.updated_at / :d ORDER BY 2, 1"
        ),
        {"d": day, "s": since, "e": until},
    )
    out += [
        {"type": "shortfall", "email": email, "model": None, "kind": "spent_before_clawback",
         "day": _day(int(d) * day), "count": n, "amount": format_credits(total)}
        for email, d, n, total in shortfalls
    ]
    return out


def _day(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%d")
