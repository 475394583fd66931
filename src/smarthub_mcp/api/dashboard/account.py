"""The account page: who is signed in, and changing the password (`flows.change_password`: the
current one checked under the login throttle, every other session ended, API keys kept). This browser is
signed in again with a fresh session; its other sessions are not."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from smarthub_mcp.api import csrf
from smarthub_mcp.api.dashboard.guard import page, services_of
from smarthub_mcp.api.dashboard.render import error_context, render
from smarthub_mcp.errors import SmartHubError
from smarthub_mcp.identity import flows, websessions
from smarthub_mcp.identity.errors import PasswordMismatch
from smarthub_mcp.identity.passwords import normalize_password
from smarthub_mcp.identity.principal import Principal


async def account_page(request: Request, me: Principal, context: dict[str, Any], *, status: int = 200) -> Response:
    return render(request, "account.html", {**context, "title": "Account",
                                            "min_length": services_of(request).settings.auth.password_min_length},
                  status=status)


async def change_password(request: Request, me: Principal, context: dict[str, Any]) -> Response:
    services = services_of(request)
    form = context["form"]
    try:
        if normalize_password(form["new_password"]) != normalize_password(form["confirm_password"]):
            raise PasswordMismatch("the two new passwords differ", details={"field": "confirm_password"})
        await flows.change_password(services, me, form["current_password"], form["new_password"])
    except SmartHubError as exc:
        return await account_page(request, me, {**context, **error_context(exc)}, status=exc.status)
    value, ttl = await websessions.start_session(services, me.user_id)
    response = await account_page(request, me, {
        **context, "notice": "Password changed. Your other sessions were signed out; your API keys keep working."})
    response.set_cookie(websessions.COOKIE_NAME, value, max_age=ttl, httponly=True, samesite="lax",
                        secure=csrf.secure_cookies(services), path="/")
    return response


routes = [
    Route("/dashboard/account", page(account_page), methods=["GET"]),
    Route("/dashboard/account/password", page(change_password, None, ("current_password", "new_password",
                                                                      "confirm_password")), methods=["POST"]),
]
