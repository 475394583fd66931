"""What the ledger hands back: plain frozen records (re-exported by `billing.ledger`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Entry:
    id: str
    account_id: str
    amount: int
    kind: str
    reference: str | None
    actor_id: str | None
    memo: str | None
    idempotency_key: str
    hold_id: str | None
    refund_of: str | None
    balance_after: int
    created_at: int


@dataclass(frozen=True, slots=True)
class Hold:
    id: str
    account_id: str
    amount: int
    status: str
    idempotency_key: str
    reference: str | None
    expires_at: int
    resolved_at: int | None
    captured_amount: int | None
    created_at: int
    model: str | None = None
    request_id: str | None = None


@dataclass(frozen=True, slots=True)
class Balance:
    balance: int
    held: int
    available: int
    overdraft_limit: int = 0


@dataclass(frozen=True, slots=True)
class Drift:
    user_id: str
    balance: int
    entries_sum: int
    held: int
    open_holds_sum: int


@dataclass(frozen=True, slots=True)
class LowBalancePolicy:
    """Alert below `fixed` micro-credits when set, else below `percent` of the last top-up."""

    fixed: int = 0
    percent: int = 10

    def threshold(self, last_topup: int) -> int:
        return self.fixed if self.fixed > 0 else last_topup * self.percent // 100


@dataclass(frozen=True, slots=True)
class Record:
    """A row written atomically with a capture, and only if that capture closes the hold (the
    meter's usage row): `values` into `table`, plus the amount charged into `charged_column`."""

    table: str
    values: Mapping[str, Any]
    charged_column: str
