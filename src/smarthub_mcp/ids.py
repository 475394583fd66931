"""Identifiers and timestamps shared by every table.

Ids are text, generated here rather than by the database, so one DDL serves SQLite and
PostgreSQL. They start with the time in milliseconds, so they sort by creation, which cursor
pagination relies on. Timestamps are integer milliseconds since the epoch (UTC) for the same
reason: portable, comparable, no time-zone surprises between the two databases.
"""

from __future__ import annotations

import secrets
import time

_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"  # Crockford base32, lower case


def _b32(value: int, width: int) -> str:
    out = []
    for _ in range(width):
        value, rem = divmod(value, 32)
        out.append(_ALPHABET[rem])
    return "".join(reversed(out))


def new_id(prefix: str) -> str:
    """`prefix_` + 10 chars of milliseconds + 16 random chars (80 bits)."""
    return f"{prefix}_{_b32(time.time_ns() // 1_000_000, 10)}{_b32(secrets.randbits(80), 16)}"


def now_ms() -> int:
    return time.time_ns() // 1_000_000
