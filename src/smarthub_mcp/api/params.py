"""Whole numbers and times read from the URL (query strings, path segments): ASCII digits, bounded.

`str.isdigit` takes "²", which `int()` then refuses; `int()` takes "٣", " 7" and "1_000", and raises
on a number of over 4300 digits; an unbounded number reaches the database as an overflow. Each of
those was a 500 somewhere, so every route reads numbers from the URL here, once.
"""

from __future__ import annotations

from datetime import UTC, datetime

from starlette.requests import Request

from smarthub_mcp.errors import InvalidRequest
from smarthub_mcp.ids import MAX_EPOCH_MS


def whole_number(raw: str, name: str, *, low: int, high: int) -> int:
    """`raw` as an int in `low..high` (both >= 0), or `invalid_request` naming the parameter."""
    details = {"parameter": name}
    if not (raw.isascii() and raw.isdigit()):
        raise InvalidRequest(f"{name} must be a whole number", details=details)
    significant = raw.lstrip("0") or "0"
    # Compared by length first, so int() never sees thousands of digits.
    value = int(significant) if len(significant) <= len(str(high)) else high + 1
    if not low <= value <= high:
        raise InvalidRequest(f"{name} must be between {low} and {high}", details=details)
    return value


def int_param(request: Request, name: str, default: int, *, low: int, high: int) -> int:
    """The query parameter `name` as a whole number in `low..high`; `default` when absent or empty."""
    raw = request.query_params.get(name)
    return default if not raw else whole_number(raw, name, low=low, high=high)


def parse_time(value: str | None, name: str) -> int | None:
    """Epoch milliseconds (up to the last moment of year 9999), or an ISO date or date-time (UTC
    unless it says otherwise); None when absent or empty."""
    if not value:
        return None
    wrong = InvalidRequest(
        f"{name}: use an ISO date (2025-01-31) or epoch milliseconds (at most {MAX_EPOCH_MS})",
        details={"parameter": name},
    )
    if value.isascii() and value.isdigit():
        try:
            return whole_number(value, name, low=0, high=MAX_EPOCH_MS)
        except InvalidRequest:
            raise wrong from None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise wrong from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


def time_param(request: Request, name: str) -> int | None:
    return parse_time(request.query_params.get(name), name)
