"""Who is looking: the dashboard's pages act as the browser's `smarthub_session` (the same cookie
the OAuth sign-in sets), checked on every request; every form carries a CSRF token (api/csrf.py).

`page(handler, permission)` wraps a handler: no session, a redirect to the sign-in page; a
permission the user's role lacks, a 403 page with the error's code; a POST whose token does not
match, a 403 `csrf_failed`; a POST otherwise counts against the user's request rate like any API
write. The handler gets the request, the principal and the page's base context.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from smarthub_mcp.api import csrf
from smarthub_mcp.api.dashboard.render import error_context, render
from smarthub_mcp.api.html import read_form
from smarthub_mcp.errors import SmartHubError
from smarthub_mcp.identity import websessions
from smarthub_mcp.identity.principal import Principal
from smarthub_mcp.oauth.errors import CsrfRefused
from smarthub_mcp.services import Services

FORM_LIMIT = 65_536
MAX_FIELDS = 60
SIGN_IN = "/dashboard/signin"
Handler = Callable[[Request, Principal, dict[str, Any]], Awaitable[Response]]


def services_of(request: Request) -> Services:
    return request.app.state.services


def purpose(principal: Principal | None) -> str:
    """What a form's CSRF token is bound to: the signed-in user (or the sign-in forms)."""
    return f"dashboard:{principal.user_id}" if principal else "dashboard:signin"


def csrf_context(request: Request, principal: Principal | None) -> tuple[dict[str, Any], str, bool]:
    """The base context of a page (`me`, `csrf`), the browser's CSRF cookie and whether it is new."""
    services = services_of(request)
    cookie, is_new = csrf.browser_value(request)
    return {"me": principal, "csrf": csrf.token_for(services, cookie, purpose(principal)), "notice": None,
            "error": None}, cookie, is_new


def check_csrf(request: Request, principal: Principal | None, presented: str) -> None:
    if not csrf.token_ok(services_of(request), request, purpose(principal), presented):
        raise CsrfRefused()


async def viewer(request: Request) -> Principal | None:
    cached = getattr(request.state, "viewer", None)
    if cached is None:
        cached = await websessions.session_principal(services_of(request),
                                                     request.cookies.get(websessions.COOKIE_NAME))
        request.state.viewer = cached
    return cached


def sign_in_redirect(request: Request) -> RedirectResponse:
    query = urlencode({"next": request.url.path}) if request.method == "GET" else ""
    return RedirectResponse(f"{SIGN_IN}?{query}" if query else SIGN_IN, status_code=303,
                            headers={"Cache-Control": "no-store"})


def refused(request: Request, context: dict[str, Any], exc: SmartHubError) -> Response:
    return render(request, "refused.html", {**context, **error_context(exc), "title": "Not allowed"},
                  status=exc.status, headers=exc.headers)


def page(handler: Handler, permission: str | None = None,
         fields: tuple[str, ...] | None = ()) -> Callable[[Request], Awaitable[Response]]:
    """`fields`: the form fields a POST reads into `context["form"]` (None: all of them)."""

    async def endpoint(request: Request) -> Response:
        principal = await viewer(request)
        if principal is None:
            return sign_in_redirect(request)
        context, cookie, is_new = csrf_context(request, principal)
        try:
            if permission is not None:
                principal.require(permission)
            if request.method == "POST":
                wanted = None if fields is None else ("csrf", *fields)
                form = await read_form(request, wanted, max_bytes=FORM_LIMIT, max_fields=MAX_FIELDS)
                check_csrf(request, principal, form.get("csrf", ""))
                await services_of(request).rate_limiter.check(principal, f"POST {request.url.path}"[:200], 0)
                context["form"] = form
            response = await handler(request, principal, context)
        except SmartHubError as exc:
            response = refused(request, context, exc)
        if is_new:
            csrf.set_cookie(response, services_of(request), cookie)
        return response

    endpoint.__name__ = handler.__name__
    return endpoint
