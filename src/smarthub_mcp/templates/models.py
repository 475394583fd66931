"""SQLModel mirrors of the template tables."""

from __future__ import annotations

from sqlmodel import Field, SQLModel


class Template(SQLModel, table=True):
    __tablename__ = "templates"
    id: str = Field(primary_key=True)
    owner_id: str | None = None
    name: str
    slug: str
    description: str
    category: str
    tags_json: str
    visibility: str
    default_model: str | None = None
    params_json: str
    current_version: int
    forked_from: str | None = None
    run_count: int
    fork_count: int
    created_at: int
    updated_at: int


class TemplateVersion(SQLModel, table=True):
    __tablename__ = "template_versions"
    template_id: str = Field(primary_key=True)
    version: int = Field(primary_key=True)
    body: str
    variables_json: str
    restored_from: int | None = None
    created_by: str | None = None
    created_at: int


class TemplateRun(SQLModel, table=True):
    __tablename__ = "template_runs"
    id: str = Field(primary_key=True)
    template_id: str
    version: int
    user_id: str
    model: str
    status: str
    latency_ms: int
    input_tokens: int
    output_tokens: int
    credits: int
    error_code: str | None = None
    batch_id: str | None = None
    request_id: str | None = None
    created_at: int
