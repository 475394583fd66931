"""What one documented operation is: method, path, body model, parameters, response, auth, errors.

Operations are declared beside nothing else (one table per area in `ops_*.py`); their request
bodies are the pydantic models the routes validate with, and their responses are models the
answers are built from (or, for answers built as plain dicts, models that the schema-driven fuzz
test checks every real answer against). A test fails when a route of the app has no operation.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel

Auth = Literal["public", "bearer", "unscoped"]
"""`unscoped`: a session token or an API key without scopes (scoped keys are refused)."""

Schema = type[BaseModel] | dict[str, Any]


@dataclass(frozen=True)
class Param:
    name: str
    schema: dict[str, Any]
    description: str = ""
    where: Literal["query", "path", "header"] = "query"
    required: bool = False
    explode: bool | None = None

    def to_openapi(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "in": self.where, "schema": self.schema}
        if self.where == "path" or self.required:
            out["required"] = True
        if self.description:
            out["description"] = self.description
        if self.explode is not None:
            out["explode"] = self.explode
        return out


def path(name: str, description: str = "", **schema: Any) -> Param:
    return Param(name, {"type": "string", "minLength": 1, "maxLength": 200, **schema}, description, "path")


def query(name: str, description: str = "", **schema: Any) -> Param:
    return Param(name, schema or {"type": "string"}, description)


def limit(default: int, high: int) -> Param:
    return query("limit", f"Items per page (default {default}).", type="integer", minimum=1, maximum=high)


CURSOR = query("cursor", "The previous page's `next_cursor`.", type="string", maxLength=100)
TIME_DESC = "An ISO date or date-time (UTC unless it says otherwise), or epoch milliseconds."


def time_query(name: str, description: str = TIME_DESC) -> Param:
    return query(name, description, type="string", maxLength=40)


@dataclass(frozen=True)
class Operation:
    method: str
    path: str
    """Below /api/v1 (e.g. `/auth/login`); `document` adds the prefix."""
    summary: str
    tag: str
    body: Schema | None = None
    response: Schema | None = None
    """None: no content (204)."""
    status: int = 200
    params: tuple[Param, ...] = ()
    auth: Auth = "bearer"
    permission: str | None = None
    errors: tuple[int, ...] = ()
    """Statuses beyond the ones every operation of its kind can answer (see `document`)."""
    description: str = ""
    operation_id: str | None = None
    body_required: bool = True
    media_type: str = "application/json"
    extra_responses: dict[str, Any] = field(default_factory=dict)
    extensions: dict[str, Any] = field(default_factory=dict)
    prefix: str = "/api/v1"

    @property
    def full_path(self) -> str:
        return self.prefix + self.path

    @property
    def writes(self) -> bool:
        return self.method.upper() in ("POST", "PUT", "PATCH", "DELETE")
