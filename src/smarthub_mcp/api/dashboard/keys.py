"""API keys in the browser: the list, a new key shown once with configuration ready to paste into
Claude Desktop, Claude Code, Cursor, VS Code and a Custom GPT action, and revoking a key.
Through `identity.apikeys`, like `/api/v1/keys`."""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from smarthub_mcp.api.dashboard.guard import page, services_of
from smarthub_mcp.api.dashboard.render import error_context, render
from smarthub_mcp.errors import SmartHubError
from smarthub_mcp.identity import apikeys
from smarthub_mcp.identity.principal import Principal


def client_configs(base_url: str, key: str) -> list[tuple[str, str, str]]:
    """(id, client, configuration) for each client, with the key in place."""
    mcp = base_url.rstrip("/") + "/mcp"
    desktop = {"mcpServers": {"smarthub": {
        "command": "npx", "args": ["-y", "mcp-remote", mcp, "--header", "Authorization:Bearer ${SMARTHUB_API_KEY}"],
        "env": {"SMARTHUB_API_KEY": key}}}}
    cursor = {"mcpServers": {"smarthub": {"url": mcp, "headers": {"Authorization": f"Bearer {key}"}}}}
    vscode = {"inputs": [{"type": "promptString", "id": "smarthub-key", "description": "SmartHub API key",
                          "password": True}],
              "servers": {"smarthub": {"type": "http", "url": mcp,
                                       "headers": {"Authorization": "Bearer ${input:smarthub-key}"}}}}
    gpt = (f"Import from URL: {base_url.rstrip('/')}/api/v1/tools/openapi.json\n"
           f"Authentication: API Key, Auth Type Bearer\nAPI key: {key}")
    return [
        ("cfg-desktop", "Claude Desktop (claude_desktop_config.json)", json.dumps(desktop, indent=2)),
        ("cfg-code", "Claude Code",
         f'claude mcp add --transport http smarthub {mcp} \\\n  --header "Authorization: Bearer {key}"'),
        ("cfg-cursor", "Cursor (~/.cursor/mcp.json)", json.dumps(cursor, indent=2)),
        ("cfg-vscode", "VS Code (.vscode/mcp.json; paste the key when asked)", json.dumps(vscode, indent=2)),
        ("cfg-gpt", "Custom GPT action (Configure → Actions → Create new action)", gpt),
    ]


async def _show(request: Request, me: Principal, context: dict[str, Any], *, status: int = 200) -> Response:
    keys = await apikeys.list_keys(services_of(request), me.user_id)
    return render(request, "keys.html", {"created": None, "configs": [], **context, "title": "API keys",
                                         "keys": keys}, status=status)


async def keys_page(request: Request, me: Principal, context: dict[str, Any]) -> Response:
    return await _show(request, me, context)


async def create(request: Request, me: Principal, context: dict[str, Any]) -> Response:
    services = services_of(request)
    try:
        key, info = await apikeys.create_key(services, me.user_id, name=context["form"]["name"], creator=me)
    except SmartHubError as exc:
        return await _show(request, me, {**context, **error_context(exc)}, status=exc.status)
    base = services.settings.server.public_base_url or str(request.base_url)
    return await _show(request, me, {**context, "created": {"key": key, "info": info},
                                     "configs": client_configs(base, key),
                                     "notice": "Key created. Copy it now: it is not shown again."})


async def revoke(request: Request, me: Principal, context: dict[str, Any]) -> Response:
    try:
        info = await apikeys.revoke_key(services_of(request), key_id=request.path_params["key_id"],
                                        owner_id=me.user_id)
    except SmartHubError as exc:
        return await _show(request, me, {**context, **error_context(exc)}, status=exc.status)
    return await _show(request, me, {**context, "notice": f"Key {info.prefix}… revoked."})


routes = [
    Route("/dashboard/keys", page(keys_page), methods=["GET"]),
    Route("/dashboard/keys", page(create, fields=("name",)), methods=["POST"]),
    Route("/dashboard/keys/{key_id}/revoke", page(revoke), methods=["POST"]),
]
