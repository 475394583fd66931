"""The renderer: `{{ name }}` substitution of declared variables, and nothing else.

A template body is text with placeholders. A placeholder is `{{`, optional spaces, a variable
name (a plain identifier), optional spaces, `}}`. That is the whole language: no expressions,
attribute access, filters, blocks, comments or includes, so a body can never run code or reach
an object. Anything that opens like template syntax but is not a placeholder (`{{ ''.__class__ }}`,
`{% if %}`, `{# #}`, `{{ {{ x }} }}`) is a `template_syntax_error` when the template is saved,
rather than text that silently stays in the prompt. `\\{{`, `\\{%` and `\\{#` write the two
characters literally.

Values are inserted in one pass and never parsed again: a value that contains `{{ x }}` or
`{% %}` comes out exactly as it went in.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from smarthub_mcp.templates.errors import MissingVariable, TemplateSyntaxError

NAME_PATTERN = r"[A-Za-z_][A-Za-z0-9_]{0,63}"
_PLACEHOLDER = re.compile(r"\{\{[ \t]*(" + NAME_PATTERN + r")[ \t]*\}\}")
_OPENERS = ("{{", "{%", "{#")


@dataclass(frozen=True, slots=True)
class Placeholder:
    name: str


Segment = str | Placeholder


def parse(body: str) -> tuple[Segment, ...]:
    """Split a body into literal text and placeholders, or raise `TemplateSyntaxError`."""
    segments: list[Segment] = []
    text: list[str] = []
    i, n = 0, len(body)
    while i < n:
        if body.startswith("\\", i) and body.startswith(_OPENERS, i + 1):
            text.append(body[i + 1 : i + 3])
            i += 3
            continue
        if body.startswith(_OPENERS, i):
            match = _PLACEHOLDER.match(body, i) if body.startswith("{{", i) else None
            if match is None:
                raise TemplateSyntaxError(
                    "templates support only {{ name }} placeholders; write \\"
                    + body[i : i + 2]
                    + " for the literal characters",
                    details={"position": i, "line": body.count("\n", 0, i) + 1, "near": body[i : i + 24]},
                )
            if text:
                segments.append("".join(text))
                text = []
            segments.append(Placeholder(match.group(1)))
            i = match.end()
            continue
        # Copy plain text up to the next character that could start something.
        j = min((k for k in (body.find("{", i + 1), body.find("\\", i + 1)) if k != -1), default=n)
        text.append(body[i:j])
        i = j
    if text:
        segments.append("".join(text))
    return tuple(segments)


def placeholders(body: str) -> list[str]:
    """The variable names a body uses, in order of first use."""
    seen: dict[str, None] = {}
    for seg in parse(body):
        if isinstance(seg, Placeholder):
            seen.setdefault(seg.name, None)
    return list(seen)


def render(body: str, values: Mapping[str, str]) -> str:
    """Substitute `values` (already checked and converted to text) into `body`.

    Pure: the same body and values always give the same text. A placeholder without a value
    is `template_missing_variable`; extra values are ignored here (checking them is
    `variables.bind`'s job)."""
    out: list[str] = []
    for seg in parse(body):
        if isinstance(seg, Placeholder):
            if seg.name not in values:
                raise MissingVariable(f"no value for variable '{seg.name}'", details={"variable": seg.name})
            out.append(values[seg.name])
        else:
            out.append(seg)
    return "".join(out)
