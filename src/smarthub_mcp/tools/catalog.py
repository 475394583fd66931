"""Every tool module, imported once so their `@tool` registrations run."""

from __future__ import annotations

from smarthub_mcp.tools import account, chat, templates  # noqa: F401
