"""Showing money: integer micro-credits as the decimal strings JSON carries ("12.500000")."""

from __future__ import annotations

from smarthub_mcp.credits import MICRO


def format_credits(micro: int) -> str:
    """12_500_000 -> "12.500000"; exact, no floats."""
    sign = "-" if micro < 0 else ""
    whole, frac = divmod(abs(micro), MICRO)
    return f"{sign}{whole}.{frac:06d}"


def credits_for_people(micro: int) -> str:
    """12_500_000 -> "12.5 credits" (for MCP text and emails)."""
    text = format_credits(micro).rstrip("0").rstrip(".")
    return f"{text} credits"
