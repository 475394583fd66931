"""Admin: users (search by email, change the role, disable or enable, adjust credits with a reason).

The same functions as the admin API, so the same checks and the same audit rows: `change_user`
(api/admin.py) and `adjust_one` (api/credits.py, idempotent by the form's key, audited as
`credits.adjust`)."""

from __future__ import annotations

import secrets
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from smarthub_mcp.api.admin import change_user
from smarthub_mcp.api.credits import adjust_one
from smarthub_mcp.api.dashboard.guard import page, services_of
from smarthub_mcp.api.dashboard.render import credits, error_context, render
from smarthub_mcp.errors import InvalidRequest, SmartHubError
from smarthub_mcp.identity.principal import Principal
from smarthub_mcp.identity.roles import load_roles
from smarthub_mcp.identity.users import list_users

ROWS = 50


async def _show(request: Request, me: Principal, context: dict[str, Any], *, status: int = 200) -> Response:
    services = services_of(request)
    query = request.query_params.get("q", "").strip()[:320] or None
    async with services.db.read() as conn:
        users = await list_users(conn, query=query, limit=ROWS)
        roles = sorted((await load_roles(conn)).values(), key=lambda r: r.seniority)
    balances = {u.id: await services.ledger.balance(u.id) for u in users}
    return render(request, "admin_users.html", {
        **context, "title": "Users", "users": users, "balances": balances, "q": query or "",
        "roles": [r.name for r in roles], "adjust_key": secrets.token_urlsafe(12),
        "can_adjust": me.can("credits:adjust"),
    }, status=status)


async def users_page(request: Request, me: Principal, context: dict[str, Any]) -> Response:
    return await _show(request, me, context)


async def change(request: Request, me: Principal, context: dict[str, Any]) -> Response:
    form = context["form"]
    try:
        status = form["status"] or None
        if status not in (None, "active", "disabled"):
            raise InvalidRequest("status must be active or disabled", details={"field": "status"})
        after = await change_user(request, me, request.path_params["user_id"], form["role"] or None, status)
    except SmartHubError as exc:
        return await _show(request, me, {**context, **error_context(exc)}, status=exc.status)
    return await _show(request, me, {**context, "notice": f"{after.email}: role {after.role}, {after.status}."})


async def adjust(request: Request, me: Principal, context: dict[str, Any]) -> Response:
    """Adjust credits: the form's idempotency key makes a resubmitted form a repeat, not a second move."""
    me.require("credits:adjust")
    form = context["form"]
    services = services_of(request)
    body = {"user_id": request.path_params["user_id"], "amount": form["amount"], "reason": form["reason"],
            "idempotency_key": form["key"]}
    try:
        async with services.db.write() as conn:
            entry = await adjust_one(services, conn, request, me.user_id, body, "credits.adjust")
    except SmartHubError as exc:
        return await _show(request, me, {**context, **error_context(exc)}, status=exc.status)
    notice = f"Adjusted by {credits(entry.amount)}; the balance is now {credits(entry.balance_after)}."
    return await _show(request, me, {**context, "notice": notice})


routes = [
    Route("/dashboard/admin/users", page(users_page, "users:manage"), methods=["GET"]),
    Route("/dashboard/admin/users/{user_id}", page(change, "users:manage", ("role", "status")), methods=["POST"]),
    Route("/dashboard/admin/users/{user_id}/adjust", page(adjust, "users:manage", ("amount", "reason", "key")),
          methods=["POST"]),
]
