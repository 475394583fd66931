"""`/api/v1/keys` (a user's own API keys) and `/api/v1/admin/...` (users and roles).

Every admin change writes one `audit_log` row in the same transaction as the change: actor,
action, target, state before and after, client IP and request id.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.ext.asyncio import AsyncConnection
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from smarthub_mcp.api.authn import authenticate, client_ip, require
from smarthub_mcp.api.body import read_json
from smarthub_mcp.api.params import int_param
from smarthub_mcp.errors import Conflict, InvalidRequest, NotFound
from smarthub_mcp.identity import apikeys
from smarthub_mcp.identity.audit import write_audit
from smarthub_mcp.identity.errors import UnknownRole
from smarthub_mcp.identity.principal import Principal
from smarthub_mcp.identity.roles import ADMIN_FLOOR, PERMISSION_RE, load_roles, set_role_permissions
from smarthub_mcp.identity.sessions import end_all_sessions
from smarthub_mcp.identity.users import UserRecord, get_user, list_users, update_user
from smarthub_mcp.logs import request_id_var
from smarthub_mcp.pages import page, row_id
from smarthub_mcp.services import Services

MAX_PAGE = 200


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CreateKeyBody(Body):
    name: str = Field("", max_length=100)
    scopes: list[str] | None = Field(None, max_length=64)
    expires_at: int | None = Field(None, description="Epoch milliseconds", ge=0, le=2**53)


class PatchUserBody(Body):
    role: str | None = Field(None, max_length=64)
    status: Literal["active", "disabled"] | None = None


class RolePermissionsBody(Body):
    permissions: list[str] = Field(max_length=256)


def _services(request: Request) -> Services:
    return request.app.state.services


async def audit(
    conn: AsyncConnection, request: Request, actor: Principal, action: str, target_type: str,
    target_id: str | None, before: Any, after: Any,
) -> None:
    request_id = getattr(request.state, "request_id", None) or request_id_var.get()
    await write_audit(conn, actor_id=actor.user_id, action=action, target_type=target_type, target_id=target_id,
                      before=before, after=after, ip=client_ip(request), request_id=request_id)


# --- API keys ------------------------------------------------------------------------------------


async def list_keys(request: Request) -> JSONResponse:
    principal = await authenticate(request)
    principal.require_unscoped("managing API keys")
    keys = await apikeys.list_keys(_services(request), principal.user_id)
    return JSONResponse({"keys": [k.to_json() for k in keys]})


async def create_key(request: Request) -> JSONResponse:
    principal = await authenticate(request)
    principal.require_unscoped("managing API keys")
    body = await read_json(request, CreateKeyBody, max_bytes=16_384)
    key, info = await apikeys.create_key(
        _services(request), principal.user_id, name=body.name, scopes=body.scopes,
        expires_at=body.expires_at, creator=principal,
    )
    # The only time the key is shown.
    return JSONResponse({"key": key, **info.to_json()}, status_code=201)


async def revoke_key(request: Request) -> JSONResponse:
    principal = await authenticate(request)
    principal.require_unscoped("managing API keys")
    services = _services(request)
    key_id = request.path_params["key_id"]
    try:
        info = await apikeys.revoke_key(services, key_id=key_id, owner_id=principal.user_id)
    except NotFound:
        if not principal.can("users:manage"):
            raise
        info = await apikeys.revoke_key(services, key_id=key_id)  # an admin revoking someone else's key
        async with services.db.write() as conn:
            await audit(conn, request, principal, "api_key.revoke", "api_key", key_id,
                        {"revoked_at": None}, {"revoked_at": info.revoked_at})
    return JSONResponse({"status": "revoked", "key": info.to_json()})


# --- users -----------------------------------------------------------------------------------------


async def admin_list_users(request: Request) -> JSONResponse:
    await require(request, "users:manage")
    params = request.query_params
    limit = int_param(request, "limit", 50, low=1, high=MAX_PAGE)
    query = params.get("q") or None
    if query is not None and len(query) > 320:
        raise InvalidRequest("q is too long", details={"field": "q"})
    async with _services(request).db.read() as conn:
        users = await list_users(conn, query=query, role=params.get("role") or None, limit=limit + 1,
                                 after=params.get("cursor") or None)
    shown, next_cursor = page(users, limit, row_id)
    return JSONResponse({"users": [u.to_json() for u in shown], "next_cursor": next_cursor})


async def change_user(request: Request, actor: Principal, user_id: str, role: str | None,
                      status: str | None) -> UserRecord:
    """Set a user's role and/or status as `actor`, audited; the dashboard's user page calls this too."""
    services = _services(request)
    if role is not None and not await services.identity.roles.exists(role):
        raise UnknownRole(f"unknown role {role!r}", details={"field": "role"})
    if user_id == actor.user_id and (status == "disabled" or (role and role != actor.role)):
        raise Conflict("admins cannot disable or demote themselves; ask another admin")
    changes = {k: v for k, v in (("role", role), ("status", status)) if v is not None}
    if not changes:
        raise InvalidRequest("nothing to change: give role and/or status")
    async with services.db.write() as conn:
        before = await get_user(conn, user_id)
        after = await update_user(conn, user_id, **changes)
        if status == "disabled" and before.status != "disabled":
            await end_all_sessions(conn, user_id)
        await audit(conn, request, actor, "user.update", "user", user_id,
                    {k: getattr(before, k) for k in changes}, {k: getattr(after, k) for k in changes})
    return after


async def admin_patch_user(request: Request) -> JSONResponse:
    actor = await require(request, "users:manage")
    body = await read_json(request, PatchUserBody, max_bytes=16_384)
    after = await change_user(request, actor, request.path_params["user_id"], body.role, body.status)
    return JSONResponse({"user": after.to_json()})


# --- roles -----------------------------------------------------------------------------------------


def _role_json(info: Any) -> dict[str, Any]:
    return {"name": info.name, "parent": info.parent, "seniority": info.seniority, "description": info.description,
            "permissions": sorted(info.own), "effective_permissions": sorted(info.effective)}


async def admin_list_roles(request: Request) -> JSONResponse:
    await require(request, "roles:manage")
    async with _services(request).db.read() as conn:
        roles = await load_roles(conn)
    ordered = sorted(roles.values(), key=lambda r: r.seniority)
    return JSONResponse({"roles": [_role_json(r) for r in ordered]})


async def admin_put_role(request: Request) -> JSONResponse:
    actor = await require(request, "roles:manage")
    body = await read_json(request, RolePermissionsBody, max_bytes=65_536)
    role = request.path_params["role"]
    bad = [p for p in body.permissions if not PERMISSION_RE.match(p)]
    if bad:
        raise InvalidRequest(
            "permissions must look like 'area:action'", details={"field": "permissions", "invalid": bad}
        )
    wanted = frozenset(body.permissions)
    services = _services(request)
    async with services.db.write() as conn:
        roles = await load_roles(conn)
        if role not in roles:
            raise UnknownRole(f"unknown role {role!r}")
        if role == "admin":
            inherited = roles["manager"].effective if "manager" in roles else frozenset()
            missing = sorted(ADMIN_FLOOR - wanted - inherited)
            if missing:
                raise Conflict("the admin role must keep users:manage and roles:manage", details={"missing": missing})
        before = sorted(roles[role].own)
        await set_role_permissions(conn, role, wanted)
        await audit(conn, request, actor, "role.update", "role", role, {"permissions": before},
                    {"permissions": sorted(wanted)})
        after = (await load_roles(conn))[role]
    services.identity.roles.invalidate()
    return JSONResponse({"role": _role_json(after)})


routes = [
    Route("/keys", list_keys, methods=["GET"]),
    Route("/keys", create_key, methods=["POST"]),
    Route("/keys/{key_id}", revoke_key, methods=["DELETE"]),
    Route("/admin/users", admin_list_users, methods=["GET"]),
    Route("/admin/users/{user_id}", admin_patch_user, methods=["PATCH"]),
    Route("/admin/roles", admin_list_roles, methods=["GET"]),
    Route("/admin/roles/{role}", admin_put_role, methods=["PUT"]),
]
