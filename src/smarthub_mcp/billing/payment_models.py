"""SQLModel mirrors of the payments and promo tables (sql/0005_payments.sql)."""

from __future__ import annotations

from sqlmodel import Field, SQLModel


class Payment(SQLModel, table=True):
    __tablename__ = "payments"
    id: str = Field(primary_key=True)
    user_id: str
    package_id: str
    amount_minor: int
    currency: str
    credits: int
    status: str
    stripe_session_id: str | None = None
    payment_intent: str | None = None
    checkout_url: str | None = None
    amount_refunded_minor: int
    credits_clawed_back: int
    clawback_shortfall: int
    grant_entry_id: str | None = None
    failure_reason: str | None = None
    created_at: int
    updated_at: int
    paid_at: int | None = None


class StripeEvent(SQLModel, table=True):
    __tablename__ = "stripe_events"
    id: str = Field(primary_key=True)
    type: str
    payment_id: str | None = None
    payload: str
    attempts: int
    received_at: int
    processed_at: int | None = None
    outcome: str | None = None


class PaymentFlag(SQLModel, table=True):
    __tablename__ = "payment_flags"
    id: str = Field(primary_key=True)
    user_id: str
    payment_id: str
    reason: str
    created_at: int


class PromoCode(SQLModel, table=True):
    __tablename__ = "promo_codes"
    id: str = Field(primary_key=True)
    code: str
    description: str
    credits: int
    max_redemptions: int | None = None
    redemptions_count: int
    credits_granted: int
    starts_at: int | None = None
    expires_at: int | None = None
    new_users_only: bool
    active: bool
    created_by: str | None = None
    created_at: int
    updated_at: int
    last_redeemed_at: int | None = None


class PromoRedemption(SQLModel, table=True):
    __tablename__ = "promo_redemptions"
    id: str = Field(primary_key=True)
    code_id: str
    user_id: str
    credits: int
    entry_id: str | None = None
    created_at: int


class PromoFailure(SQLModel, table=True):
    __tablename__ = "promo_failures"
    id: str = Field(primary_key=True)
    user_id: str
    reason: str
    created_at: int
