"""Variable declarations, and binding run-time values to them.

A template declares each variable it uses: a name, a type (`string`, `number`, `boolean`,
`enum`), whether it is required or its default, a description and a maximum length. `bind`
checks the values of one run against the declarations — unknown names, missing required
values, wrong types, values that are too long — and turns them into the text the renderer
inserts. It runs before any credit is reserved, so a bad call costs nothing.

Values may arrive as JSON types (HTTP, MCP tools) or as strings (MCP `prompts/get` sends only
strings): a number may be `3` or `"3"`, a boolean `true` or `"true"`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from smarthub_mcp.templates.errors import (
    InvalidTemplate,
    MissingVariable,
    RenderedTooLarge,
    UndeclaredVariable,
    VariableTooLong,
    VariableTypeError,
)
from smarthub_mcp.templates.render import NAME_PATTERN, placeholders, render

VariableType = Literal["string", "number", "boolean", "enum"]

MAX_VARIABLES = 50
MAX_BODY_CHARS = 50_000
DEFAULT_MAX_LENGTH = 20_000
"""A string or enum value's cap when the declaration sets none."""
MAX_MAX_LENGTH = 200_000
MAX_RENDERED_CHARS = 400_000
_TRUE, _FALSE = frozenset({"true", "yes", "1"}), frozenset({"false", "no", "0"})


class Variable(BaseModel):
    """One declared variable."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=f"^{NAME_PATTERN}$")
    type: VariableType = "string"
    required: bool = True
    default: str | int | float | bool | None = None
    description: str = Field(default="", max_length=500)
    max_length: int | None = Field(default=None, ge=1, le=MAX_MAX_LENGTH)
    choices: list[str] | None = Field(default=None, max_length=100)
    """The allowed values of an `enum`."""

    @model_validator(mode="after")
    def _consistent(self) -> Variable:
        if self.type == "enum" and not self.choices:
            raise ValueError("an enum variable needs a non-empty 'choices' list")
        if self.type != "enum" and self.choices is not None:
            raise ValueError("only enum variables take 'choices'")
        if self.default is not None:
            # The default must itself be a valid value; convert() raises SmartHubErrors.
            try:
                convert(self, self.default)
            except (VariableTypeError, VariableTooLong) as exc:
                raise ValueError(f"default: {exc.message}") from None
        return self

    @property
    def limit(self) -> int:
        return self.max_length or DEFAULT_MAX_LENGTH


def declare(raw: Any) -> list[Variable]:
    """Parse declarations (a list of dicts or `Variable`s), or raise `invalid_template`."""
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise InvalidTemplate("variables must be a list of declarations")
    if len(raw) > MAX_VARIABLES:
        raise InvalidTemplate(f"a template declares at most {MAX_VARIABLES} variables")
    found: list[Variable] = []
    for index, item in enumerate(raw):
        try:
            var = item if isinstance(item, Variable) else Variable.model_validate(item)
        except ValidationError as exc:
            problems = [{"field": ".".join(str(p) for p in e["loc"]), "message": e["msg"]} for e in exc.errors()]
            raise InvalidTemplate(
                f"variable #{index + 1} is not a valid declaration", details={"index": index, "problems": problems}
            ) from None
        found.append(var)
    names = [v.name for v in found]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise InvalidTemplate("variable names must be unique", details={"duplicates": duplicates})
    return found


def check_body(body: str, variables: list[Variable]) -> None:
    """A body must parse and may use only declared variables."""
    if not body.strip():
        raise InvalidTemplate("the template body is empty")
    if len(body) > MAX_BODY_CHARS:
        raise InvalidTemplate(f"the template body is longer than {MAX_BODY_CHARS} characters")
    declared = {v.name for v in variables}
    undeclared = [name for name in placeholders(body) if name not in declared]
    if undeclared:
        raise UndeclaredVariable(
            f"the body uses undeclared variables: {', '.join(undeclared)}", details={"variables": undeclared}
        )


def convert(var: Variable, value: Any) -> str:
    """One value as the text the renderer inserts, or a typed error."""
    try:
        return _convert(var, value)
    except ValueError:  # int() and str() refuse integers of over 4300 digits (sys.get_int_max_str_digits)
        where = {"variable": var.name, "expected": var.type}
        raise VariableTypeError(f"'{var.name}' is a number too long to use", details=where) from None


def _convert(var: Variable, value: Any) -> str:
    where = {"variable": var.name, "expected": var.type}
    if var.type in ("string", "enum"):
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise VariableTypeError(f"'{var.name}' must be a string", details=where)
        text = value if isinstance(value, str) else _number_text(value)
        if len(text) > var.limit:
            raise VariableTooLong(
                f"'{var.name}' is longer than {var.limit} characters",
                details={"variable": var.name, "max_length": var.limit, "length": len(text)},
            )
        if var.type == "enum" and text not in (var.choices or []):
            raise VariableTypeError(
                f"'{var.name}' must be one of: {', '.join(var.choices or [])}",
                details={**where, "choices": var.choices},
            )
        return text
    if var.type == "number":
        number: int | float
        if isinstance(value, bool):
            raise VariableTypeError(f"'{var.name}' must be a number", details=where)
        if isinstance(value, int | float):
            number = value
        elif isinstance(value, str) and re.fullmatch(r"\s*-?\d+(\.\d+)?([eE][-+]?\d+)?\s*", value):
            number = float(value) if any(c in value for c in ".eE") else int(value)
        else:
            raise VariableTypeError(f"'{var.name}' must be a number", details=where)
        if isinstance(number, float) and not math.isfinite(number):
            raise VariableTypeError(f"'{var.name}' must be a finite number", details=where)
        return _number_text(number)
    # boolean
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return "true" if value.strip().lower() in _TRUE else "false"
    raise VariableTypeError(f"'{var.name}' must be true or false", details=where)


def bind(variables: list[Variable], values: Mapping[str, Any] | None) -> dict[str, str]:
    """Check one run's values against the declarations and return the text of each variable.

    An optional variable with no value and no default renders as the empty string."""
    values = dict(values or {})
    declared = {v.name: v for v in variables}
    unknown = sorted(k for k in values if k not in declared)
    if unknown:
        raise UndeclaredVariable(
            f"unknown variables: {', '.join(unknown)}", details={"variables": unknown, "declared": list(declared)}
        )
    missing = [v.name for v in variables if v.required and v.default is None and values.get(v.name) is None]
    if missing:
        raise MissingVariable(f"missing required variables: {', '.join(missing)}", details={"variables": missing})
    bound: dict[str, str] = {}
    for var in variables:
        value = values.get(var.name)
        if value is None:
            value = var.default
        bound[var.name] = "" if value is None else convert(var, value)
    return bound


def render_with(body: str, variables: list[Variable], values: Mapping[str, Any] | None) -> str:
    """Bind, then render: the one call that turns a version plus a run's values into a prompt."""
    text = render(body, bind(variables, values))
    if len(text) > MAX_RENDERED_CHARS:
        raise RenderedTooLarge(f"the rendered prompt is longer than {MAX_RENDERED_CHARS} characters")
    return text


def _number_text(value: int | float) -> str:
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return str(value)
