"""The shapes templates travel in: what callers send (create, update) and what they get back.

HTTP routes and MCP tools share these, so both show a template the same way.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from smarthub_mcp.templates.variables import MAX_BODY_CHARS, Variable

Visibility = Literal["private", "public"]
_TAG_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,31}$")
_CATEGORY_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,39}$")
SLUG_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")

PARAM_KEYS = ("temperature", "max_tokens", "top_p")
"""Chat parameters a template may preset."""


def _norm_tags(tags: list[str] | None) -> list[str] | None:
    if tags is None:
        return None
    out: list[str] = []
    for tag in tags:
        tag = tag.strip().lower()
        if not _TAG_RE.match(tag):
            raise ValueError(f"tag {tag!r}: use 1-32 lower-case letters, digits or dashes")
        if tag not in out:
            out.append(tag)
    if len(out) > 10:
        raise ValueError("at most 10 tags")
    return out


def _norm_category(category: str | None) -> str | None:
    if category is None:
        return None
    category = category.strip().lower()
    if not _CATEGORY_RE.match(category):
        raise ValueError("category: use 1-40 lower-case letters, digits or dashes")
    return category


def _check_params(params: dict[str, Any] | None) -> dict[str, Any] | None:
    if params is None:
        return None
    unknown = sorted(set(params) - set(PARAM_KEYS))
    if unknown:
        raise ValueError(f"unknown parameters: {', '.join(unknown)} (allowed: {', '.join(PARAM_KEYS)})")
    if "temperature" in params and not (
        isinstance(params["temperature"], int | float) and 0 <= params["temperature"] <= 2
    ):
        raise ValueError("temperature must be a number from 0 to 2")
    if "top_p" in params and not (isinstance(params["top_p"], int | float) and 0 < params["top_p"] <= 1):
        raise ValueError("top_p must be a number in (0, 1]")
    mt = params.get("max_tokens")
    if "max_tokens" in params and not (isinstance(mt, int) and not isinstance(mt, bool) and 1 <= mt <= 200_000):
        raise ValueError("max_tokens must be an integer from 1 to 200000")
    return params


class _Meta(BaseModel):
    model_config = ConfigDict(extra="forbid")

    @field_validator("tags", check_fields=False)
    @classmethod
    def _tags(cls, v: list[str] | None) -> list[str] | None:
        return _norm_tags(v)

    @field_validator("category", check_fields=False)
    @classmethod
    def _category(cls, v: str | None) -> str | None:
        return _norm_category(v)

    @field_validator("params", check_fields=False)
    @classmethod
    def _params(cls, v: dict[str, Any] | None) -> dict[str, Any] | None:
        return _check_params(v)

    @field_validator("slug", check_fields=False)
    @classmethod
    def _slug(cls, v: str | None) -> str | None:
        if v is not None and not SLUG_RE.match(v):
            raise ValueError("slug: use 1-64 lower-case letters, digits or dashes")
        return v


class TemplateCreate(_Meta):
    name: str = Field(min_length=1, max_length=120)
    slug: str | None = None
    """Derived from the name when absent (with a numeric suffix if the caller already uses it)."""
    description: str = Field(default="", max_length=2000)
    category: str = "general"
    tags: list[str] = Field(default_factory=list)
    visibility: Visibility = "private"
    default_model: str | None = Field(default=None, max_length=100)
    params: dict[str, Any] = Field(default_factory=dict)
    body: str = Field(min_length=1, max_length=MAX_BODY_CHARS)
    variables: list[Variable] = Field(default_factory=list)


class TemplateUpdate(_Meta):
    """Fields left out stay as they are. A new body or new variables make a new version."""

    name: str | None = Field(default=None, min_length=1, max_length=120)
    slug: str | None = None
    description: str | None = Field(default=None, max_length=2000)
    category: str | None = None
    tags: list[str] | None = None
    visibility: Visibility | None = None
    default_model: str | None = Field(default=None, max_length=100)
    params: dict[str, Any] | None = None
    body: str | None = Field(default=None, min_length=1, max_length=MAX_BODY_CHARS)
    variables: list[Variable] | None = None


class VersionInfo(BaseModel):
    version: int
    body: str
    variables: list[Variable]
    restored_from: int | None = None
    created_at: int


class TemplateSummary(BaseModel):
    id: str
    owner_id: str | None
    """None for the system's starter templates."""
    name: str
    slug: str
    description: str
    category: str
    tags: list[str]
    visibility: Visibility
    default_model: str | None
    params: dict[str, Any]
    current_version: int
    forked_from: str | None
    run_count: int
    fork_count: int
    created_at: int
    updated_at: int
    mine: bool = False


class TemplateDetail(TemplateSummary):
    body: str
    """The current version's body."""
    variables: list[Variable]
    versions: list[VersionInfo] = Field(default_factory=list)
    """Newest first; filled by `get`."""


class TemplateStats(BaseModel):
    template_id: str
    runs: int
    succeeded: int
    failed: int
    success_rate: float | None
    """Share of runs that succeeded (a ratio, not money), None before the first run."""
    avg_latency_ms: int | None
    avg_input_tokens: int | None
    avg_output_tokens: int | None
    credits_spent: str
    """Micro-credits captured by all runs, shown in credits as a decimal string."""
    credits_spent_micro: int
    last_run_at: int | None
    runs_by_version: dict[str, int]
