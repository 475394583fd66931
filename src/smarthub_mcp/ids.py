"""Identifiers and timestamps shared by every table.

Ids are text, generated here rather than by the database, so one DDL serves SQLite and
PostgreSQL. They start with the time in milliseconds, so they sort by creation, which cursor
pagination relies on. Timestamps are integer milliseconds since the epoch (UTC) for the same
reason: portable, comparable, no time-zone surprises between the two databases.
"""

from __future__ import annotations

import secrets
import threading
import time
from datetime import UTC, datetime

_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"  # Crockford base32, lower case


def _b32(value: int, width: int) -> str:
    out = []
    for _ in range(width):
        value, rem = divmod(value, 32)
        out.append(_ALPHABET[rem])
    return "".join(reversed(out))


_RANDOM_BITS = 80
_last = [0, 0]  # (milliseconds, random part) of the last id made in this process
_lock = threading.Lock()


def new_id(prefix: str) -> str:
    """`prefix_` + 10 chars of milliseconds + 16 random chars (80 bits).

    Monotonic within a process, like ULIDs: ids made in the same millisecond (or while the clock
    steps back) take the previous random part plus one, so they sort in the order they were made.
    Cursor pagination (`ORDER BY id`) relies on that; a fast ledger writes many per millisecond."""
    with _lock:
        ms = time.time_ns() // 1_000_000
        if ms <= _last[0]:
            ms, rand = _last[0], _last[1] + 1
            if rand >= 1 << _RANDOM_BITS:  # 2^80 ids in one millisecond: borrow the next one
                ms, rand = ms + 1, secrets.randbits(_RANDOM_BITS - 1)
        else:
            rand = secrets.randbits(_RANDOM_BITS - 1)  # headroom so increments never overflow
        _last[0], _last[1] = ms, rand
    return f"{prefix}_{_b32(ms, 10)}{_b32(rand, 16)}"


MAX_EPOCH_MS = 253_402_300_799_999
"""9999-12-31T23:59:59.999Z, the last moment `datetime` and ISO 8601 can write: the bound for any time
a caller gives us (a larger number would not fit the database's BIGINT)."""


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def utc_text(ms: int) -> str:
    """A stored time as people read it: `2026-01-02 03:04:05 UTC`."""
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
