"""What the meter hands out and takes back: reservations, usage, settlements, and the usage row.

A `Reservation` is durable: its `hold_id` names a hold row that carries everything needed to
settle it (user, tool, model, estimate, request id, expiry), so a job worker in another process
can settle or release it long after the request that made it has ended.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from smarthub_mcp.billing.records import Hold
from smarthub_mcp.ids import new_id, now_ms

T = TypeVar("T")

@dataclass(frozen=True, slots=True)
class Usage:
    """What a call consumed, and its exact price (micro-credits, from pricing for the route that answered)."""

    cost: int = 0
    provider: str | None = None
    upstream_model: str | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    images: int = 0
    seconds: int = 0


@dataclass(frozen=True, slots=True)
class Reservation:
    """Credits held for one call (or job) until it is settled or released. `hold_id` is None for a
    free call, which holds nothing."""

    hold_id: str | None
    user_id: str
    tool: str
    model: str | None
    estimate: int
    request_id: str | None
    expires_at: int
    created_at: int

    @classmethod
    def from_hold(cls, hold: Hold) -> Reservation:
        return cls(hold.id, hold.account_id, hold.reference or "unknown", hold.model, hold.amount,
                   hold.request_id, hold.expires_at, hold.created_at)


@dataclass(frozen=True, slots=True)
class Settlement:
    """How a reservation ended: `captured` (charged), `released` or `expired` (nothing charged).
    `first` is False when an earlier settle or release had already ended it: nothing changed now."""

    outcome: str
    charged: int
    balance: int | None
    first: bool = True


@dataclass(frozen=True, slots=True)
class Metered(Generic[T]):
    result: T
    charged: int
    hold_id: str | None
    balance: int | None
    """The balance after the charge; None for a free call."""
    usage: Usage


def usage_values(
    res: Reservation, usage: Usage, *, status: str, error_code: str | None, cost: int | None
) -> dict[str, Any]:
    """The usage row of a reservation's end; without `cost` when None (a capture fills in what it charged)."""
    now = now_ms()
    values = {
        "id": new_id("use"), "user_id": res.user_id, "tool": res.tool, "model": res.model,
        "provider": usage.provider, "upstream_model": usage.upstream_model, "status": status,
        "error_code": error_code, "input_tokens": usage.input_tokens, "output_tokens": usage.output_tokens,
        "images": usage.images, "seconds": usage.seconds, "estimate": res.estimate, "cost": cost,
        "hold_id": res.hold_id, "latency_ms": max(0, now - res.created_at), "request_id": res.request_id,
        "created_at": now,
    }
    if cost is None:
        del values["cost"]
    return values
