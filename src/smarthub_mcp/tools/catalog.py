"""Every tool module, imported once so their `@tool` registrations run."""

from __future__ import annotations
