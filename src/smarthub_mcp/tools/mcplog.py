"""MCP log notifications (`notifications/message`) for one tool call, at the level the client chose.

The two protocol generations choose the level differently:

- 2026-07-28: each request carries its own level in `_meta` (`io.modelcontextprotocol/logLevel`;
  the SDK's `Client(log_level=...)`); no level means no notifications. The SDK's
  `allowed_log_levels` reads it, and there is nothing to remember.
- 2025-11-25 and older: `logging/setLevel` chooses it for the connection. The level is kept in
  the SDK's per-connection `state`, so stdio (one connection for the life of the process) and
  stateful HTTP sessions honour it on every later call. Our HTTP transport is stateless: each
  POST is a connection of its own, so a `setLevel` there is answered and has nothing to apply
  to; those calls get `DEFAULT_LEVEL`, which the 2025 spec leaves to the server. It is not kept
  per user or per key either: two clients of one user would overrule each other.

What is sent is ours to word: charges and fallbacks by model, provider and error code. Never a
provider key, a provider's body, or the caller's text.
"""

from __future__ import annotations

import logging
from typing import Any, get_args

from mcp.server.connection import allowed_log_levels
from mcp.server.context import ServerRequestContext
from mcp.server.session import ServerSession
from mcp.types import (
    EmptyResult,
    LoggingLevel,
    LoggingMessageNotification,
    LoggingMessageNotificationParams,
    SetLevelRequestParams,
)
from mcp_types.version import MODERN_PROTOCOL_VERSIONS

from smarthub_mcp.tools.registry import LogFn

log = logging.getLogger("smarthub.tools")

LEVELS: tuple[LoggingLevel, ...] = get_args(LoggingLevel)
"""Severity ascending (debug ... emergency), as the SDK's literal declares them."""
DEFAULT_LEVEL: LoggingLevel = "info"
"""For a 2025-era connection whose client never sent `logging/setLevel` (every stateless HTTP call)."""
LEVEL_KEY = "smarthub/log_level"
"""Where a connection's chosen level lives in its `state`."""


def _connection_state(session: ServerSession) -> dict[str, Any] | None:
    """The per-connection `state` dict. The SDK hands handlers a per-request session and reaches
    the connection only through its private `_connection`; if that is renamed, levels are simply
    not remembered (calls get DEFAULT_LEVEL), and tests/tools/test_mcp_logging.py fails on stdio."""
    connection = getattr(session, "_connection", None)
    state = getattr(connection, "state", None)
    return state if isinstance(state, dict) else None


async def set_level(ctx: ServerRequestContext[Any, Any], params: SetLevelRequestParams) -> EmptyResult:
    """`logging/setLevel` (2025-era clients): remember the level for this connection."""
    state = _connection_state(ctx.session)
    if state is not None:
        state[LEVEL_KEY] = params.level
    return EmptyResult()


def allowed_levels(ctx: ServerRequestContext[Any, Any]) -> frozenset[LoggingLevel]:
    """The levels this request may be sent."""
    if ctx.protocol_version in MODERN_PROTOCOL_VERSIONS:
        return allowed_log_levels(ctx.protocol_version, ctx.meta)
    state = _connection_state(ctx.session) or {}
    chosen = state.get(LEVEL_KEY, DEFAULT_LEVEL)
    return frozenset(LEVELS[LEVELS.index(chosen):]) if chosen in LEVELS else frozenset()


def client_log(ctx: ServerRequestContext[Any, Any]) -> LogFn | None:
    """A function sending log notifications on this request's stream, or None when the client
    wants none (so tools skip building them)."""
    allowed = allowed_levels(ctx)
    if not allowed:
        return None
    session, request_id = ctx.session, ctx.request_id

    async def send(level: LoggingLevel, logger: str, data: dict[str, Any]) -> None:
        if level not in allowed:
            return
        params = LoggingMessageNotificationParams(level=level, data=data, logger=logger)
        note = LoggingMessageNotification(params=params)
        try:
            # Request-scoped: on HTTP it rides this call's SSE response, on stdio the pipe.
            await session.send_notification(note, related_request_id=request_id)
        except Exception as exc:  # advisory only: the call (and its charge) stands whatever happens here
            log.debug("log notification not delivered: %s", type(exc).__name__)

    return send
