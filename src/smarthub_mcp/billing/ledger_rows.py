"""What both ledger stores decide alike, as pure functions of the rows they read: the errors a
verb raises, a repeat's check, the parameters of a row. No database access here; each store
(billing/store_sqlite.py, billing/store_pg.py) runs its own statements and calls these."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, NamedTuple

from smarthub_mcp.billing.errors import HoldExpired
from smarthub_mcp.billing.money import format_credits
from smarthub_mcp.billing.records import Entry, Hold
from smarthub_mcp.errors import IdempotencyConflict, InsufficientCredits, InvalidRequest, LedgerError, NotFound

log = logging.getLogger("smarthub.ledger")

Alert = tuple[str, int, int]
"""(user_id, balance, threshold): a low-balance notification to send (billing/alerts.py)."""
AlertDue = Callable[[str, Any], Alert | None]
"""`LowBalanceAlerts.due`: given an account's state after a debit, the alert it calls for, if any."""


class Captured(NamedTuple):
    """A capture's outcome: the usage entry (None when nothing was charged), the low-balance alert
    the caller sends, and `(charged, balance_after)` when this call closed the hold (None when it
    was already captured: a repeat)."""

    entry: Entry | None
    alert: Alert | None
    settled: tuple[int, int] | None


def require_positive(amount: int) -> None:
    if not isinstance(amount, int) or isinstance(amount, bool) or amount <= 0:
        raise InvalidRequest("an amount must be a positive whole number of micro-credits")


def entry_params(e: Entry) -> dict[str, Any]:
    return {f: getattr(e, f) for f in Entry.__slots__}


def hold_params(h: Hold) -> dict[str, Any]:
    return {f: getattr(h, f) for f in Hold.__slots__}


def same_hold(row: Any, hold: Hold) -> Hold:
    """The hold a repeat of `hold`'s idempotency key found: it must be for the same movement."""
    found = Hold(*row)
    if found.account_id != hold.account_id or found.amount != hold.amount:
        raise IdempotencyConflict("this idempotency key was already used for a different hold")
    return found


def insufficient(user_id: str, required: int, account: Any) -> Exception:
    """The error for a conditional debit or hold that did not pass; `account` is the row of
    `queries.ACCOUNT` (balance, held, overdraft_limit), None when there is no account."""
    if account is None:
        return NotFound("this user has no credit account", details={"user_id": user_id})
    balance, held, overdraft = account
    available = balance - held + overdraft
    return InsufficientCredits(
        f"Not enough credits: this needs up to {format_credits(required)} credits and "
        f"{format_credits(max(available, 0))} are available.",
        details={
            "balance": format_credits(balance),
            "available": format_credits(available),
            "required": format_credits(required),
        },
    )


def resolved_hold(row: Any, hold_id: str) -> Hold:
    """A capture found `hold_id` not open: the hold when it was captured (a repeat, which returns
    the first result), else the error (missing, released, or expired)."""
    if row is None:
        raise NotFound("no such hold", details={"hold_id": hold_id})
    hold = Hold(*row)
    if hold.status == "captured":
        return hold
    error = HoldExpired if hold.status == "expired" else LedgerError
    raise error(f"the hold is already {hold.status}", details={"hold_id": hold_id, "status": hold.status})


def usage_entry(
    hold_id: str, actual: int, row: tuple[Any, ...], balance_after: int, *, entry_id: str, memo: str | None, now: int
) -> Entry | None:
    """The usage entry of a capture that closed the hold; `row` is the hold's (account, amount,
    charged, reference). None when nothing was charged (no entry is written then)."""
    account_id, amount, charged, reference = row
    if actual > amount:
        log.warning("capture of %s above its hold (%d > %d); charged the hold", hold_id, actual, amount)
    if charged == 0:
        return None
    return Entry(entry_id, account_id, -charged, "usage", reference, None, memo, f"capture:{hold_id}", hold_id, None,
                 balance_after, now)
