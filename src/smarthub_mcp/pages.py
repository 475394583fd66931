"""Keyset pagination shared by the list endpoints: optional filters, and a page plus its cursor.

Lists are ordered by id, which sorts by creation (ids.py). A query asks for `limit + 1` rows; the
extra row only says whether another page exists, and the last row shown is the next cursor.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar

T = TypeVar("T")


def where(params: dict[str, Any], clauses: Iterable[tuple[str, str, Any]]) -> str:
    """`(condition, key, value)` clauses joined with AND, keeping those whose value is not None and
    putting each kept value into `params[key]`; "1 = 1" when none is kept."""
    kept = []
    for condition, key, value in clauses:
        if value is not None:
            kept.append(condition)
            params[key] = value
    return " AND ".join(kept) or "1 = 1"


def page(rows: Sequence[T], limit: int, key: Callable[[T], str]) -> tuple[list[T], str | None]:
    """The first `limit` of `rows` (fetched with LIMIT limit + 1) and the cursor of the next page,
    None when there is none."""
    shown = list(rows[:limit])
    return shown, (key(shown[-1]) if len(rows) > limit and shown else None)


def row_id(row: Any) -> str:
    return row.id
