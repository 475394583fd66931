"""Connected apps: the OAuth grants a user gave (ChatGPT, Claude and other connectors), and
disconnecting one. Through `oauth.grants`, like `/api/v1/oauth/grants`."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from smarthub_mcp.api.dashboard.guard import page, services_of
from smarthub_mcp.api.dashboard.render import render
from smarthub_mcp.errors import NotFound
from smarthub_mcp.identity.principal import Principal
from smarthub_mcp.oauth.admin import grants_json
from smarthub_mcp.oauth.grants import revoke_user_grant, user_grants


async def _show(request: Request, me: Principal, context: dict[str, Any]) -> Response:
    services = services_of(request)
    grants = await grants_json(services, await user_grants(services, me.user_id))
    return render(request, "apps.html", {**context, "title": "Connected apps", "grants": grants})


async def apps_page(request: Request, me: Principal, context: dict[str, Any]) -> Response:
    return await _show(request, me, context)


async def disconnect(request: Request, me: Principal, context: dict[str, Any]) -> Response:
    if not await revoke_user_grant(services_of(request), me.user_id, request.path_params["grant_id"]):
        raise NotFound("no connected app with this id")
    return await _show(request, me, {**context, "notice": "Disconnected."})


routes = [
    Route("/dashboard/apps", page(apps_page), methods=["GET"]),
    Route("/dashboard/apps/{grant_id}/disconnect", page(disconnect), methods=["POST"]),
]
