"""Assemble an OpenAPI 3.1 document from declared operations.

Schemas come from pydantic models in one `models_json_schema` call, so a model used by several
operations (or as a request in one and an answer in another) gets one consistent name. Error
answers point to one component per status (see `errors`), security to two bearer schemes: a JWT
from /auth/login or an API key (`shk_...`), both sent as `Authorization: Bearer`.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema

from smarthub_mcp import __version__
from smarthub_mcp.api.openapi.errors import ERROR_SCHEMA, error_ref, error_responses
from smarthub_mcp.api.openapi.spec import Operation, Schema
from smarthub_mcp.identity.principal import permission_text

SECURITY_SCHEMES = {
    "apiKey": {"type": "http", "scheme": "bearer", "bearerFormat": "API key (shk_...)",
               "description": "An API key from `POST /api/v1/keys` or `smarthub keys create`."},
    "bearerJwt": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT",
                  "description": "An access token from `POST /api/v1/auth/login` (15 minutes)."},
}
TOOLS_SECURITY = {"bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "API key or JWT"}}
REF = "#/components/schemas/{model}"


class _Schemas:
    """Pydantic models to `$ref`s, collected in one pass; plain dict schemas pass through."""

    def __init__(self, operations: list[Operation]) -> None:
        pairs: list[tuple[type[BaseModel], JsonSchemaMode]] = []
        for op in operations:
            for schema, mode in ((op.body, "validation"), (op.response, "serialization")):
                if isinstance(schema, type) and (schema, mode) not in pairs:
                    pairs.append((schema, mode))  # type: ignore[arg-type]
        mapping, top = models_json_schema(pairs, ref_template=REF)
        self.refs = mapping
        self.components: dict[str, Any] = dict(top.get("$defs", {}))

    def of(self, schema: Schema, mode: JsonSchemaMode) -> dict[str, Any]:
        if isinstance(schema, dict):
            return schema
        return dict(self.refs[(schema, mode)])


def operation_id(op: Operation) -> str:
    return op.operation_id or op.method.lower() + "_" + re.sub(r"[^A-Za-z0-9]+", "_", op.path).strip("_")


def error_statuses(op: Operation) -> list[int]:
    """What the operation can answer besides success: 400 always (the text guard reads every URL),
    401 and 403 when it needs credentials, 413 when it reads a body, 429 when a signed-in caller
    writes (writes count against the rate limit), 404 when the path has parameters (a value that
    names nothing, or that does not fit a path segment), 503 always (the database busy, Redis down)."""
    found = {400, 503, *op.errors}
    if "{" in op.path:
        found.add(404)
    if op.auth != "public":
        found |= {401, 403}
        if op.writes:
            found.add(429)
    if op.body is not None:
        found.add(413)
    return sorted(found)


def _description(op: Operation) -> str:
    parts = [op.description] if op.description else []
    if op.permission:
        parts.append(f"Needs the {permission_text(op.permission, quote='`')} permission.")
    if op.auth == "unscoped":
        parts.append("Takes a session token or an unscoped API key; scoped keys are refused.")
    return " ".join(parts)


def _operation(op: Operation, schemas: _Schemas, *, inline_errors: bool, tools_only: bool) -> dict[str, Any]:
    out: dict[str, Any] = {"operationId": operation_id(op), "summary": op.summary, "tags": [op.tag]}
    description = op.description if tools_only else _description(op)
    if description:
        out["description"] = description
    if op.params:
        out["parameters"] = [p.to_openapi() for p in op.params]
    if op.body is not None:
        out["requestBody"] = {"required": op.body_required,
                              "content": {"application/json": {"schema": schemas.of(op.body, "validation")}}}
    if op.response is None:
        ok: dict[str, Any] = {"description": "Done (no content)."}
    else:
        content = {op.media_type: {"schema": schemas.of(op.response, "serialization")}}
        content.update(op.extensions.get("x-alternative-media", {}))
        ok = {"description": op.summary, "content": content}
    responses: dict[str, Any] = {str(op.status): ok, **op.extra_responses}
    inline = {"description": "Error", "content": {"application/json": {"schema": {"$ref": REF.format(model="Error")}}}}
    for status in error_statuses(op):
        responses.setdefault(str(status), inline if inline_errors else error_ref(status))
    out["responses"] = responses
    if op.auth == "public":
        out["security"] = []
    out.update({k: v for k, v in op.extensions.items() if k != "x-alternative-media"})
    return out


def build_document(
    base_url: str, operations: list[Operation], *, title: str, description: str, tools_only: bool = False
) -> dict[str, Any]:
    schemas = _Schemas(operations)
    paths: dict[str, dict[str, Any]] = {}
    for op in operations:
        item = _operation(op, schemas, inline_errors=tools_only, tools_only=tools_only)
        paths.setdefault(op.full_path, {})[op.method.lower()] = item
    components: dict[str, Any] = {
        "schemas": {"Error": ERROR_SCHEMA, **schemas.components},
        "securitySchemes": TOOLS_SECURITY if tools_only else SECURITY_SCHEMES,
    }
    if not tools_only:
        components["responses"] = error_responses()
    security: list[dict[str, list[str]]] = [{"bearerAuth": []}] if tools_only else [{"apiKey": []}, {"bearerJwt": []}]
    return {
        "openapi": "3.1.0",
        "info": {"title": title, "version": __version__, "description": description},
        "servers": [{"url": base_url.rstrip("/")}],
        "paths": paths,
        "components": components,
        "security": security,
    }
