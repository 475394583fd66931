"""Structured logging: readable lines by default, one JSON object per line when asked.

Every record carries the current request id (set by the request-id middleware and by the tool
wrapper), so one id ties together the access log, the tool call and any error behind it.
"""

from __future__ import annotations

import json
import logging
import sys
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import IO

request_id_var: ContextVar[str] = ContextVar("request_id", default="-")

_RESERVED = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "request_id", "color_message"}


class _RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id_var.get()
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        payload = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "request_id": getattr(record, "request_id", "-"),
            "msg": record.getMessage(),
        }
        payload.update({k: v for k, v in record.__dict__.items() if k not in _RESERVED})
        if record.exc_info:
            payload["exc"] = self.formatException(record.exc_info)
        return json.dumps(payload, default=str)


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s [%(request_id)s] %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        extra = {k: v for k, v in record.__dict__.items() if k not in _RESERVED}
        if extra:
            line += " " + " ".join(f"{k}={v}" for k, v in extra.items())
        return line


class _StderrHandler(logging.StreamHandler[IO[str]]):
    """Writes to whatever `sys.stderr` is when a record is emitted (like logging's last resort), so a
    command run in process (click's test runner) logs to its own captured stderr, then to the real one."""

    def __init__(self) -> None:
        logging.Handler.__init__(self)

    @property
    def stream(self) -> IO[str]:  # type: ignore[override]  # read-only on purpose: it follows sys.stderr
        return sys.stderr


def configure(level: str = "INFO", fmt: str = "text", stream: IO[str] | None = None) -> None:
    """Install one handler on the root logger (idempotent). Logs go to stderr: stdout is MCP's on stdio."""
    handler: logging.StreamHandler[IO[str]] = logging.StreamHandler(stream) if stream else _StderrHandler()
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    handler.addFilter(_RequestIdFilter())
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, "_smarthub", False)]:
        root.removeHandler(old)
    handler._smarthub = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level)
    for noisy in QUIET_LIBRARIES:
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))


QUIET_LIBRARIES = (
    "httpx", "httpcore", "httpx2", "mcp.server.lowlevel.server", "mcp.server.streamable_http",
    # At DEBUG these log what must never reach a log: the database drivers every statement with its
    # parameters (password and token hashes), the vendor SDKs request options and bodies.
    "aiosqlite", "sqlalchemy", "asyncpg", "openai", "anthropic", "stripe", "aiosmtplib", "redis",
)
"""Libraries kept at WARNING even when SmartHub logs at DEBUG."""
