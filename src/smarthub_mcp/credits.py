"""Credit amounts as people write them ("1.5", 2, 0.25) and as the ledger holds them: integer
micro-credits. Config fields, the admin API, promo codes and the CLI all parse amounts here."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any

from pydantic import BeforeValidator, WithJsonSchema

MICRO = 1_000_000  # micro-credits per credit
MAX_CREDITS = 1_000_000_000
"""The largest amount one grant, price, code or payment may carry: far beyond any real one, and far
inside the database's BIGINT even when many are added up."""


_AMOUNT = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?", re.ASCII)


def parse_credits(value: Any) -> int:
    """Turn a credit amount written by a person ("1.5", 2, 0.25) into integer micro-credits.

    Floats from TOML go through their shortest repr, so `0.1` is exactly 100,000 micro-credits.
    More than six decimals is refused rather than rounded.
    """
    if isinstance(value, bool):
        raise ValueError("a credit amount, not a boolean")
    if isinstance(value, int):
        return _bounded(value * MICRO, value)
    text = str(value).strip()
    # Plain ASCII numerals only: Decimal also takes "1_000" and other scripts' digits (Arabic-Indic,
    # Devanagari...), which no one writing an amount means.
    if not _AMOUNT.fullmatch(text):
        raise ValueError(f"not a credit amount: {text[:40]!r}")
    try:
        amount = Decimal(text)
    except InvalidOperation:
        raise ValueError(f"not a credit amount: {text[:40]!r}") from None
    if not amount.is_finite():
        raise ValueError(f"not a credit amount: {text[:40]!r}")
    # Decimal holds exponents its arithmetic cannot ("1e999999" * MICRO raises decimal.Overflow,
    # "1e-9999999999" * MICRO underflows to 0): settle such amounts by their magnitude first.
    if amount and amount.adjusted() >= len(str(MAX_CREDITS)):
        raise ValueError(f"at most {MAX_CREDITS:,} credits: {text[:40]!r}")
    if amount and amount.adjusted() < -6:
        raise ValueError(f"at most 6 decimal places: {text[:40]!r}")
    micro = amount * MICRO
    if micro != micro.to_integral_value():
        raise ValueError(f"at most 6 decimal places: {text[:40]!r}")
    return _bounded(int(micro), text[:40])


def _bounded(micro: int, value: Any) -> int:
    if abs(micro) > MAX_CREDITS * MICRO:
        raise ValueError(f"at most {MAX_CREDITS:,} credits: {value!r}")
    return micro


CREDITS_JSON_SCHEMA = {
    "anyOf": [{"type": "string", "pattern": r"^[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?$"},
              {"type": "number"}],
    "description": "Credits, as a decimal string (\"2.5\") or a number; at most six decimal places.",
}

Credits = Annotated[int, BeforeValidator(parse_credits), WithJsonSchema(CREDITS_JSON_SCHEMA)]
"""A config field written in credits and held as integer micro-credits (its JSON schema says what
callers write: credits, not micro-credits)."""
