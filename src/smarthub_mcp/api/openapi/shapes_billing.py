"""Shapes of the credit, payment and promo routes, for the OpenAPI document.

Answers here are built as dicts (`entry_json`, `payment_view`, `code_view`...); see `shapes` for why
they are written down and how they are kept honest. `AdjustBody` and `BulkBody` describe bodies the
admin credit routes read field by field (amounts as credit strings or numbers)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field

from smarthub_mcp.api.openapi.shapes import Millis, Out, credits_field

AMOUNT = r"^[+-]?([0-9]+(\.[0-9]{0,6})?|\.[0-9]{1,6})$"


class Balance(Out):
    balance: str = credits_field()
    held: str = credits_field("Held by calls in progress.")
    available: str = credits_field("Balance minus held: what the next call can spend.")


class Entry(Out):
    id: str
    amount: str = credits_field("Signed: negative takes credits away.")
    kind: Literal["grant", "purchase", "promo", "usage", "refund", "adjustment", "reversal"]
    reference: str | None
    memo: str | None
    balance_after: str = credits_field()
    created_at: Millis


class EntryPage(Out):
    items: list[Entry]
    next_cursor: str | None


class EntryList(Out):
    items: list[Entry]


class UsageRow(Out):
    calls: int
    cost: str = credits_field()
    input_tokens: int
    output_tokens: int


class DayUsage(UsageRow):
    day: str = Field(description="ISO date (UTC).")


class ToolUsage(UsageRow):
    tool: str


class ModelUsage(UsageRow):
    model: str = Field(description="`-` for calls without a model.")


class UsageStats(Out):
    from_: Millis = Field(alias="from")
    to: Millis
    calls: int
    cost: str = credits_field()
    by_day: list[DayUsage]
    by_tool: list[ToolUsage]
    by_model: list[ModelUsage]


class AdjustBody(Out):
    """Name the account by `user_id` or `email`."""

    user_id: str | None = Field(None, max_length=100)
    email: str | None = Field(None, max_length=320)
    amount: Annotated[str, Field(pattern=AMOUNT)] | float = Field(
        description="Credits to add (negative: take away), e.g. \"-2.5\"; not zero.")
    reason: str = Field(min_length=1, max_length=500)
    idempotency_key: str = Field(min_length=1, max_length=200,
                                 description="Repeating a request with the same key moves no more money.")


class BulkItem(AdjustBody):
    reason: str | None = Field(None, max_length=500)  # type: ignore[assignment]


class BulkBody(Out):
    items: list[BulkItem] = Field(min_length=1, max_length=1000)
    reason: str | None = Field(None, max_length=500, description="For items that give none.")


class AuditItem(Out):
    id: str
    actor_id: str | None
    action: str
    target_id: str | None
    amount: str | None
    reason: str | None
    ip: str | None
    created_at: Millis


class AuditPage(Out):
    items: list[AuditItem]
    next_cursor: str | None


class ReportRow(Out):
    type: Literal["spend", "grant", "clawback", "shortfall"]
    email: str
    model: str | None
    kind: str
    day: str
    count: int
    amount: str = credits_field()


class Report(Out):
    from_: Millis = Field(alias="from")
    to: Millis
    rows: list[ReportRow]


class CreditPackage(Out):
    id: str
    name: str
    credits: str = credits_field()
    price_minor: int = Field(description="The price in the currency's minor unit (cents).")
    currency: str
    price: str = Field(description="For display, e.g. `9.00 USD`.")


class PackageList(Out):
    packages: list[CreditPackage]


class Checkout(Out):
    checkout_url: str = Field(description="Stripe Checkout: open it to pay.")
    session_id: str
    payment_id: str
    package: CreditPackage


class WebhookReceived(Out):
    received: Literal[True]
    event_id: str
    outcome: str


class Payment(Out):
    id: str
    user_id: str
    package_id: str
    amount_minor: int
    currency: str
    credits: str = credits_field()
    status: Literal["pending", "paid", "failed", "expired", "refunded", "partially_refunded", "disputed"]
    stripe_session_id: str | None
    payment_intent: str | None
    amount_refunded_minor: int
    credits_clawed_back: str = credits_field()
    clawback_shortfall: str = credits_field()
    failure_reason: str | None
    created_at: Millis
    paid_at: Millis | None


class PaymentPage(Out):
    payments: list[Payment]
    next_cursor: str | None


class CurrencySummary(Out):
    currency: str
    payments: int
    gross_minor: int
    refunded_minor: int
    net_minor: int
    credits_sold: str = credits_field()
    credits_clawed_back: str = credits_field()
    clawback_shortfall: str = credits_field()
    disputes: int


class PaymentSummary(Out):
    currencies: list[CurrencySummary]


class PaymentFlag(Out):
    id: str
    user_id: str
    email: str | None
    payment_id: str | None
    reason: str
    amount_minor: int | None
    currency: str | None
    created_at: Millis


class FlagPage(Out):
    flags: list[PaymentFlag]
    next_cursor: str | None


class Redeemed(Out):
    code: str
    credits: str = credits_field()
    balance: str = credits_field()
    entry_id: str
    message: str


class PromoAnalytics(Out):
    redemptions: int
    credits_granted: str = credits_field()
    last_redeemed_at: Millis | None


class PromoCode(Out):
    id: str
    code: str
    description: str
    credits: str = credits_field()
    max_redemptions: int | None
    starts_at: Millis | None
    expires_at: Millis | None
    new_users_only: bool
    active: bool
    created_by: str | None
    created_at: Millis
    updated_at: Millis
    analytics: PromoAnalytics


class PromoCodeList(Out):
    codes: list[PromoCode]


def csv_report() -> dict[str, Any]:
    return {"text/csv": {"schema": {"type": "string"}}}
