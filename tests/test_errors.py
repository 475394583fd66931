"""The error root: whatever a message quotes, every transport can encode it."""

from __future__ import annotations

import json

from smarthub_mcp.api.errors import error_response
from smarthub_mcp.errors import InvalidRequest
from smarthub_mcp.tools.binding import error_result


def test_a_lone_surrogate_quoted_by_an_error_is_written_as_an_escape():
    exc = InvalidRequest("unknown role '\ud800'", details={"invalid": ["a\udfff"], "\ud800": ("x",), "n": 1})
    assert exc.message == "unknown role '\\ud800'"
    assert exc.details == {"invalid": ["a\\udfff"], "\\ud800": ("x",), "n": 1}
    body = json.loads(error_response(exc).body)  # UTF-8 would fail on the surrogate itself
    assert body["error"] == {"code": "invalid_request", "message": "unknown role '\\ud800'",
                             "details": {"invalid": ["a\\udfff"], "\\ud800": ["x"], "n": 1}}
    result = error_result(exc)
    assert result.content[0].text.encode("utf-8") == b"Error [invalid_request]: unknown role '\\ud800'"
    assert InvalidRequest("caf\u00e9 \U0001f600").message == "caf\u00e9 \U0001f600"  # real text stays as it is
