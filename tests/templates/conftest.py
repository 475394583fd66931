"""Skip the end-to-end template tests on a tree that lacks the identity package (its users and token factory)."""

from __future__ import annotations

import importlib.util

collect_ignore = (
    []
    if importlib.util.find_spec("smarthub_mcp.billing") and importlib.util.find_spec("smarthub_mcp.identity.users")
    else ["test_http.py", "test_tools.py"]
)
