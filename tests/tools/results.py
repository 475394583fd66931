"""Reading tool results the way a client does."""

from __future__ import annotations

from typing import Any

from smarthub_mcp.tools.binding import ERROR_META_KEY


def error_of(result: Any) -> dict[str, Any]:
    """The error an isError result carries: `{"code", "message", "details"}` from `_meta`, with the
    code and message also in the text, and no structuredContent (it would not match the schema)."""
    assert result.is_error, result
    assert result.structured_content is None, result.structured_content
    error = result.meta[ERROR_META_KEY]
    assert f"Error [{error['code']}]" in result.content[0].text, result.content[0].text
    return error
