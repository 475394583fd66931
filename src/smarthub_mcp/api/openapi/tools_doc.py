"""The tool facade's operations (`POST /api/v1/tools/{name}`, one per tool) and its own document.

The facade's document at `/api/v1/tools/openapi.json` is what Custom GPT actions import; it stays
small (the tools only) and within the actions' limits: an operation's description is at most 300
characters, cut at the end of a sentence or, failing that, a word, never inside one.
"""

from __future__ import annotations

from typing import Any

from smarthub_mcp.api.openapi.spec import Operation
from smarthub_mcp.identity.principal import permission_text
from smarthub_mcp.oauth.scopes import SCOPES
from smarthub_mcp.tools.catalog import all_tools

DESCRIPTION_LIMIT = 300
TOOLS = "tools"
ELLIPSIS = "…"


def shorten(text: str, limit: int = DESCRIPTION_LIMIT) -> str:
    """`text` with its whitespace folded, cut to at most `limit` characters at a sentence end when one
    falls in the second half, else at a word boundary with an ellipsis."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    head = text[: limit + 1]
    sentence_end = max(head.rfind(". ", 0, limit), head.rfind("! ", 0, limit), head.rfind("? ", 0, limit))
    if sentence_end >= limit // 2:
        return text[: sentence_end + 1]
    room = text[: limit - len(ELLIPSIS) + 1]
    space = room.rfind(" ")
    cut = room[:space] if space > 0 else room[: limit - len(ELLIPSIS)]
    return cut.rstrip(" ,;:") + ELLIPSIS


def tool_operations() -> list[Operation]:
    """One operation per tool, its body the tool's argument model and its answer the tool's result."""
    return [
        Operation(
            "POST", f"/tools/{spec.name}", spec.title, TOOLS, spec.arguments, spec.result_type,
            permission=spec.permission, body_required=False, operation_id=spec.name,
            description=shorten(spec.description),
            errors=(402, 404, 422, 429, 502) if spec.paid else (404, 409, 410, 429, 502),
            extensions={"x-permission": permission_text(spec.permission, quote=""), "x-paid": spec.paid},
        )
        for spec in sorted(all_tools().values(), key=lambda s: s.name)
    ]


def tools_document(base_url: str) -> dict[str, Any]:
    """The facade's own document: its paths and no other."""
    from smarthub_mcp.api.openapi.document import build_document

    document = build_document(
        base_url, tool_operations(),
        title="SmartHub MCP tools",
        description=(
            "AI tools paid for in credits: chat with several models, prompt templates, and account tools. "
            "Authenticate with an API key as a Bearer token, or sign users in with OAuth."
        ),
        tools_only=True,
    )
    document["components"]["securitySchemes"]["oauth2"] = oauth_scheme(base_url)
    document["security"] = [*document["security"], {"oauth2": list(SCOPES)}]
    return document


def oauth_scheme(base_url: str) -> dict[str, Any]:
    """The authorization code flow a Custom GPT action signs its users in with (docs/oauth.md)."""
    base = base_url.rstrip("/")
    return {
        "type": "oauth2",
        "description": "Sign in with your SmartHub account; the GPT's calls are charged to your credits.",
        "flows": {"authorizationCode": {
            "authorizationUrl": f"{base}/authorize", "tokenUrl": f"{base}/token", "refreshUrl": f"{base}/token",
            "scopes": {name: text for name, (text, _) in SCOPES.items()},
        }},
    }
