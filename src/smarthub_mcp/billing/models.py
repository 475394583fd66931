"""SQLModel mirrors of the billing tables (see sql/0003_ledger.sql for the rules the database enforces)."""

from __future__ import annotations

from sqlmodel import Field, SQLModel


class Account(SQLModel, table=True):
    __tablename__ = "accounts"
    user_id: str = Field(primary_key=True, foreign_key="users.id")
    balance: int
    held: int
    overdraft_limit: int
    debt_allowed: int
    last_topup: int
    low_balance_alerted: bool
    created_at: int
    updated_at: int


class HoldRow(SQLModel, table=True):
    __tablename__ = "holds"
    id: str = Field(primary_key=True)
    account_id: str = Field(foreign_key="accounts.user_id")
    amount: int
    status: str
    idempotency_key: str = Field(unique=True)
    reference: str | None = None
    expires_at: int
    resolved_at: int | None = None
    captured_amount: int | None = None
    created_at: int


class LedgerEntry(SQLModel, table=True):
    __tablename__ = "ledger_entries"
    id: str = Field(primary_key=True)
    account_id: str = Field(foreign_key="accounts.user_id")
    amount: int
    kind: str
    reference: str | None = None
    actor_id: str | None = Field(default=None, foreign_key="users.id")
    memo: str | None = None
    idempotency_key: str = Field(unique=True)
    hold_id: str | None = Field(default=None, foreign_key="holds.id", unique=True)
    refund_of: str | None = Field(default=None, foreign_key="ledger_entries.id", unique=True)
    balance_after: int
    created_at: int


class UsageEvent(SQLModel, table=True):
    __tablename__ = "usage_events"
    id: str = Field(primary_key=True)
    user_id: str = Field(foreign_key="users.id")
    tool: str
    model: str | None = None
    provider: str | None = None
    upstream_model: str | None = None
    status: str
    error_code: str | None = None
    input_tokens: int
    output_tokens: int
    images: int
    seconds: int
    estimate: int
    cost: int
    hold_id: str | None = None
    latency_ms: int
    request_id: str | None = None
    created_at: int
