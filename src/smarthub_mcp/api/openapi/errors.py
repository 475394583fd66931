"""The error envelope and its stable codes, as OpenAPI components, read from the error classes.

Every error the API answers is `{"error": {"code", "message", "details"}}`. The codes a status can
carry are collected from the `SmartHubError` subclasses themselves (and the router's own 404/405),
so a new error class shows up in the document without anyone editing it.
"""

from __future__ import annotations

from typing import Any

# Imported for their error classes: each module defines some of the codes the API answers.
import smarthub_mcp.api.body
import smarthub_mcp.billing.errors
import smarthub_mcp.identity.errors
import smarthub_mcp.providers.base
import smarthub_mcp.templates.errors  # noqa: F401
from smarthub_mcp.api.errors import HTTP_CODES
from smarthub_mcp.errors import SmartHubError

ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {
                "code": {"type": "string", "description": "Stable machine-readable error code."},
                "message": {"type": "string", "description": "What went wrong, safe to show the user."},
                "details": {"type": "object", "additionalProperties": True,
                            "description": "Facts about the error (the fields that failed, a retry delay...)."},
            },
        }
    },
}

TITLES = {
    400: "Bad request", 401: "Missing or invalid credentials", 402: "Not enough credits",
    403: "Not allowed", 404: "Not found", 409: "Conflict", 410: "Gone", 413: "Body too large",
    415: "Unsupported media type", 422: "Refused by the provider", 429: "Too many requests",
    500: "Internal error", 502: "Upstream failure", 503: "Unavailable for now",
}
RETRY_AFTER = {"Retry-After": {"description": "Seconds to wait before retrying.", "schema": {"type": "integer"}}}
# Not answered by /api/v1 (the OpenAI-compatible API's own, and a hang-up nobody reads).
_ELSEWHERE = {"unsupported_parameter", "stream_interrupted", "client_closed_request"}


def _subclasses(cls: type[SmartHubError]) -> list[type[SmartHubError]]:
    found = []
    for sub in cls.__subclasses__():
        found += [sub, *_subclasses(sub)]
    return found


def codes_by_status() -> dict[int, list[str]]:
    """Every stable code, grouped by the status it is answered with."""
    table: dict[int, set[str]] = {}
    classes: list[type[SmartHubError]] = [SmartHubError, *_subclasses(SmartHubError)]
    for cls in classes:
        if cls.code not in _ELSEWHERE and cls.code != "error":
            table.setdefault(cls.status, set()).add(cls.code)
    for status, code in HTTP_CODES.items():
        table.setdefault(status, set()).add(code)
    return {status: sorted(codes) for status, codes in sorted(table.items())}


def response_name(status: int) -> str:
    return f"Error{status}"


def error_responses() -> dict[str, Any]:
    """`components.responses`: one per status, naming the codes it can carry."""
    out: dict[str, Any] = {}
    for status, codes in codes_by_status().items():
        listed = ", ".join(f"`{c}`" for c in codes)
        response: dict[str, Any] = {
            "description": f"{TITLES.get(status, 'Error')}. Codes: {listed}.",
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
            "x-error-codes": codes,
        }
        if status in (429, 503):
            response["headers"] = RETRY_AFTER
        out[response_name(status)] = response
    return out


def error_ref(status: int) -> dict[str, str]:
    return {"$ref": f"#/components/responses/{response_name(status)}"}
