"""Text refused at the door: NUL characters and lone UTF-16 surrogates.

JSON and Python strings both allow them, but nothing behind the door does: PostgreSQL cannot
store a NUL in a text column, and a lone surrogate (JSON `"\\ud800"`) is not Unicode, so UTF-8
cannot encode it for the database driver, a provider call or the JSON answer that would echo it.
Each way input comes in checks here once, before any handler sees it: the JSON body reader
(`api/body.py`), the path and query string (`api/textguard.py`), tool arguments
(`tools/registry.invoke`) and prompt arguments (`tools/prompts.py`).
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel

from smarthub_mcp.errors import InvalidRequest

_FLAWED = re.compile("[\x00\ud800-\udfff]")


def flaw(text: str) -> str | None:
    """What is wrong with `text`, in words (never the text itself), or None."""
    found = _FLAWED.search(text)
    if found is None:
        return None
    return "a NUL character" if found.group() == "\x00" else "a lone UTF-16 surrogate"


def find_flaw(value: Any) -> tuple[str, str] | None:
    """`(problem, field)` for the first flawed string in a JSON-like value (object keys included,
    at any depth), or None. `field` is dotted like pydantic's (`messages.0.content`).

    Iterative, not recursive: a body nested as deep as the JSON parser allows must not overflow
    the stack here."""
    stack: list[tuple[Any, tuple[str, ...]]] = [(value, ())]
    while stack:
        item, path = stack.pop()
        if isinstance(item, str):
            problem = flaw(item)
            if problem:
                return problem, ".".join(path)
        elif isinstance(item, dict):
            for key, child in item.items():
                if isinstance(key, str) and (problem := flaw(key)):
                    return f"{problem} in a key", ".".join(path)
                stack.append((child, (*path, str(key))))
        elif isinstance(item, list | tuple | set | frozenset):
            stack.extend((child, (*path, str(i))) for i, child in enumerate(item))
        elif isinstance(item, BaseModel):  # arguments the MCP SDK has already validated into models
            stack.extend((child, (*path, name)) for name, child in vars(item).items())
    return None


def refuse_flawed(value: Any, what: str) -> None:
    """Raise `invalid_request` naming the problem and where it is, when `value` holds flawed text."""
    found = find_flaw(value)
    if found is None:
        return
    problem, field = found
    where = f" at {field}" if field else ""
    raise InvalidRequest(
        f"{what} contains {problem}{where}; such text is not accepted",
        details={"field": field or "(root)"},
    )


_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(value: Any) -> Any:
    """A text cell a spreadsheet would run as a formula (`=HYPERLINK(...)` in a user's email) is
    opened with a quote, which spreadsheets show as text; other values are left alone. For every
    CSV the server writes."""
    if isinstance(value, str) and value.startswith(_FORMULA_STARTS):
        return "'" + value
    return value
