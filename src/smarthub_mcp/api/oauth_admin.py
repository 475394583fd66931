"""`/api/v1/oauth/grants` (a user's connected apps) and `/api/v1/admin/oauth/clients` (the admin's
clients: list, create a confidential one for a Custom GPT action, disable or enable)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from smarthub_mcp.api.admin import audit
from smarthub_mcp.api.authn import authenticate, require
from smarthub_mcp.api.body import read_json
from smarthub_mcp.errors import NotFound
from smarthub_mcp.oauth import admin as clients_admin
from smarthub_mcp.oauth.grants import revoke_user_grant, user_grants
from smarthub_mcp.services import Services


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CreateClientBody(Body):
    client_name: str = Field(min_length=1, max_length=100)
    redirect_uris: list[str] = Field(min_length=1, max_length=10)
    scope: str | None = Field(None, max_length=200, description="Space-separated scopes; none: every scope.")


class ClientStatusBody(Body):
    client_id: str = Field(min_length=1, max_length=2000)
    status: Literal["active", "disabled"]


def _services(request: Request) -> Services:
    return request.app.state.services


async def list_grants(request: Request) -> JSONResponse:
    principal = await authenticate(request)
    services = _services(request)
    rows = await user_grants(services, principal.user_id)
    return JSONResponse({"grants": await clients_admin.grants_json(services, rows)})


async def delete_grant(request: Request) -> JSONResponse:
    principal = await authenticate(request)
    principal.require_unscoped("disconnecting an app")
    grant_id = request.path_params["grant_id"]
    if not await revoke_user_grant(_services(request), principal.user_id, grant_id):
        raise NotFound("no connected app with this id")
    return JSONResponse({"id": grant_id, "status": "revoked"})


async def list_clients(request: Request) -> JSONResponse:
    await require(request, "users:manage")
    return JSONResponse({"clients": await clients_admin.list_clients(_services(request))})


async def create_client(request: Request) -> JSONResponse:
    actor = await require(request, "users:manage")
    body = await read_json(request, CreateClientBody)
    services = _services(request)
    async with services.db.write() as conn:
        made = await clients_admin.create_confidential_client(conn, body.client_name, body.redirect_uris, body.scope,
                                                              actor.user_id)
        shown = clients_admin.client_json(made.client)
        await audit(conn, request, actor, "oauth_client.create", "oauth_client", made.client_id, None, shown)
    return JSONResponse({**shown, "client_secret": made.client_secret}, status_code=201)


async def set_client_status(request: Request) -> JSONResponse:
    actor = await require(request, "users:manage")
    body = await read_json(request, ClientStatusBody)
    async with _services(request).db.write() as conn:
        before, revoked = await clients_admin.set_client_status(conn, body.client_id, body.status)
        await audit(conn, request, actor, "oauth_client.status", "oauth_client", body.client_id,
                    {"status": before}, {"status": body.status, "grants_revoked": revoked})
    return JSONResponse({"client_id": body.client_id, "status": body.status, "grants_revoked": revoked})


routes = [
    Route("/oauth/grants", list_grants, methods=["GET"]),
    Route("/oauth/grants/{grant_id}", delete_grant, methods=["DELETE"]),
    Route("/admin/oauth/clients", list_clients, methods=["GET"]),
    Route("/admin/oauth/clients", create_client, methods=["POST"]),
    Route("/admin/oauth/clients", set_client_status, methods=["PATCH"]),
]
