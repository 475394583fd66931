"""MCP Apps at run time: what a tool result carries for a client that renders views, and the
listing a client without Apps keeps seeing.

A client that did not negotiate the extension (`client_supports_apps`) gets today's result and
resource list unchanged; the one check is a dictionary lookup on its capabilities. A client that
did gets the view named in the result's `_meta`, plus what only the view shows (`smarthub/view`),
computed only for it.
"""

from __future__ import annotations

from typing import Any

from mcp.server.apps import client_supports_apps
from mcp.server.context import CallNext, ServerRequestContext
from sqlalchemy import text

from smarthub_mcp.billing.money import format_credits
from smarthub_mcp.identity.principal import Principal
from smarthub_mcp.ids import now_ms
from smarthub_mcp.services import Services
from smarthub_mcp.tools.apps.views import View

VIEW_DATA_KEY = "smarthub/view"
"""Where a result carries data for its view only (not for the model): e.g. the week's spend."""
WEEK_MS = 7 * 86_400_000


async def spent_since(services: Services, user_id: str, since_ms: int) -> int:
    async with services.db.read() as conn:
        total = (await conn.execute(
            text("SELECT CAST(COALESCE(SUM(cost), 0) AS BIGINT) FROM usage_events"
                 " WHERE user_id = :u AND created_at >= :s"),
            {"u": user_id, "s": since_ms},
        )).scalar()
    return int(total or 0)


async def result_meta(view: View, services: Services, principal: Principal) -> dict[str, Any]:
    """The `_meta` of a result shown in `view`: the view's URI, and the data only the view shows."""
    meta: dict[str, Any] = {"ui": {"resourceUri": view.uri}}
    if view.name == "balance":
        spent = await spent_since(services, principal.user_id, now_ms() - WEEK_MS)
        meta[VIEW_DATA_KEY] = {"spent_last_7_days": format_credits(spent)}
    return meta


def apps_middleware() -> Any:
    """Leave the `ui://` views out of `resources/list` for a client that cannot render them (the
    spec lets a server omit them: hosts find a view through its tool's `_meta`)."""

    async def middleware(ctx: ServerRequestContext[Any, Any], call_next: CallNext) -> Any:
        if ctx.method != "resources/list":
            return await call_next(ctx)
        result = await call_next(ctx)
        if not isinstance(result, dict) or client_supports_apps(ctx):
            return result
        listed = result.get("resources", [])
        return {**result, "resources": [r for r in listed if not str(r.get("uri", "")).startswith("ui://")]}

    return middleware
