"""Skip the end-to-end template tests on a tree that lacks the identity or ledger packages."""

from __future__ import annotations

import importlib.util

collect_ignore = (
    []
    if importlib.util.find_spec("smarthub_mcp.billing") and importlib.util.find_spec("smarthub_mcp.identity.http")
    else ["test_http.py", "test_tools.py"]
)
