"""SQLModel mirrors of the foundation tables (typed access; a test checks them against the live schema).

Each package keeps the mirrors of its own tables in its own `models.py`; `all_models()` imports
them all so the schema test sees every table.
"""

from __future__ import annotations

import importlib

from sqlmodel import Field, SQLModel

MODEL_MODULES = (
    "smarthub_mcp.models",
    "smarthub_mcp.identity.models",
    "smarthub_mcp.templates.models",
    "smarthub_mcp.billing.models",
    "smarthub_mcp.billing.payment_models",
)
"""Modules holding table mirrors; each package appends its own as it arrives."""


class SchemaMigration(SQLModel, table=True):
    __tablename__ = "schema_migrations"
    version: int = Field(primary_key=True)
    name: str
    applied_at: int


class AuditLog(SQLModel, table=True):
    __tablename__ = "audit_log"
    id: str = Field(primary_key=True)
    actor_id: str | None = None
    action: str
    target_type: str
    target_id: str | None = None
    before_json: str | None = None
    after_json: str | None = None
    ip: str | None = None
    request_id: str | None = None
    created_at: int


def all_models() -> type[SQLModel]:
    for module in MODEL_MODULES:
        importlib.import_module(module)
    return SQLModel
