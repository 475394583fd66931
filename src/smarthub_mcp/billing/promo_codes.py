"""Promo code text: normalization and generation (pure functions).

Codes are case-insensitive: they are stored and compared upper-case, without spaces or dashes, so
`summer-24`, `SUMMER 24` and `summer24` are one code. Generated codes use an alphabet without the
characters people confuse when reading a code aloud or off a screen (0/O, 1/I/L), so a user who
types what they see gets it right.
"""

from __future__ import annotations

import re
import secrets

ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
"""No 0, O, 1, I, L: 31 characters, about 4.95 bits each."""

_SEPARATORS = re.compile(r"[\s\-_]+")
_VALID = re.compile(r"^[A-Z0-9]{3,40}$")


def normalize_code(raw: str) -> str:
    """`" summer-24 "` -> `"SUMMER24"`. Returns "" for text that cannot be a code."""
    code = _SEPARATORS.sub("", raw or "").upper()
    return code if _VALID.match(code) else ""


def generate_code(length: int = 10, *, prefix: str = "") -> str:
    """A random code of `length` unambiguous characters (10 chars: about 49 bits), after `prefix`."""
    if not 6 <= length <= 32:
        raise ValueError("a generated code has 6 to 32 characters")
    body = "".join(secrets.choice(ALPHABET) for _ in range(length))
    return normalize_code(prefix) + body if prefix else body


def display_code(code: str, group: int = 5) -> str:
    """`"ABCDEFGHJK"` -> `"ABCDE-FGHJK"`, easier to read; redemption accepts either."""
    return "-".join(code[i : i + group] for i in range(0, len(code), group))
