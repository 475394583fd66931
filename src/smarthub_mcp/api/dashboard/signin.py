"""Signing in and out of the dashboard, signing up, asking for a password-reset email.

The same session as the OAuth pages (`websessions.start_session`, cookie `smarthub_session`), the
same checks (`check_password` with its throttles, `flows.count_signup`, `create_user` granting
the sign-up credits, the verification email). The emailed links open /verify-email and
/reset-password (api/account_pages.py).
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from smarthub_mcp.api import csrf
from smarthub_mcp.api.authn import client_ip
from smarthub_mcp.api.dashboard.guard import (
    FORM_LIMIT,
    check_csrf,
    csrf_context,
    services_of,
    sign_in_redirect,
    viewer,
)
from smarthub_mcp.api.dashboard.render import error_context, render
from smarthub_mcp.api.html import read_form
from smarthub_mcp.errors import SmartHubError
from smarthub_mcp.identity import flows, websessions
from smarthub_mcp.identity.sessions import check_password
from smarthub_mcp.identity.users import create_user

HOME = "/dashboard"


def safe_next(value: str) -> str:
    """Where to go after signing in: a dashboard path only (never another site)."""
    if value.startswith("/dashboard") and "//" not in value and "\\" not in value:
        return value
    return HOME


def _show(request: Request, template: str, title: str, extra: dict[str, Any], *, status: int = 200,
          headers: dict[str, str] | None = None) -> Response:
    context, cookie, is_new = csrf_context(request, None)
    response = render(request, template, {**context, "title": title, **extra}, status=status, headers=headers)
    if is_new:
        csrf.set_cookie(response, services_of(request), cookie)
    return response


async def sign_in_page(request: Request) -> Response:
    if await viewer(request) is not None:
        return RedirectResponse(HOME, status_code=303)
    nxt = safe_next(request.query_params.get("next", ""))
    return _show(request, "signin.html", "Sign in", {"next": nxt, "email": "", "mode": "signin"})


async def sign_up_page(request: Request) -> Response:
    return _show(request, "signin.html", "Create an account", {"next": HOME, "email": "", "mode": "signup"})


def _signed_in(request: Request, value: str, ttl: int, nxt: str) -> Response:
    response = RedirectResponse(safe_next(nxt), status_code=303, headers={"Cache-Control": "no-store"})
    response.set_cookie(websessions.COOKIE_NAME, value, max_age=ttl, httponly=True, samesite="lax",
                        secure=csrf.secure_cookies(services_of(request)), path="/")
    return response


async def sign_in(request: Request) -> Response:
    services = services_of(request)
    form: dict[str, str] = {"email": "", "next": HOME}
    try:
        form = await read_form(request, ("csrf", "email", "password", "next"), max_bytes=FORM_LIMIT)
        check_csrf(request, None, form["csrf"])
        user = await check_password(services, form["email"], form["password"], client_ip(request))
    except SmartHubError as exc:
        extra = {"next": safe_next(form["next"]), "email": form["email"], "mode": "signin", **error_context(exc)}
        return _show(request, "signin.html", "Sign in", extra, status=exc.status, headers=exc.headers)
    value, ttl = await websessions.start_session(services, user.id)
    return _signed_in(request, value, ttl, form["next"])


async def sign_up(request: Request) -> Response:
    services = services_of(request)
    form: dict[str, str] = {"email": ""}
    try:
        form = await read_form(request, ("csrf", "email", "password"), max_bytes=FORM_LIMIT)
        check_csrf(request, None, form["csrf"])
        await flows.count_signup(services, client_ip(request))
        user = await create_user(services, form["email"], form["password"])
    except SmartHubError as exc:
        extra = {"next": HOME, "email": form["email"], "mode": "signup", **error_context(exc)}
        return _show(request, "signin.html", "Create an account", extra, status=exc.status, headers=exc.headers)
    await flows.send_verification(services, user)
    value, ttl = await websessions.start_session(services, user.id)
    return _signed_in(request, value, ttl, HOME + "?welcome=1")


async def sign_out(request: Request) -> Response:
    principal = await viewer(request)
    if principal is None:
        return sign_in_redirect(request)
    try:
        form = await read_form(request, ("csrf",), max_bytes=FORM_LIMIT)
        check_csrf(request, principal, form["csrf"])
    except SmartHubError as exc:
        return _show(request, "refused.html", "Not allowed", error_context(exc), status=exc.status)
    await websessions.end_session(services_of(request), request.cookies.get(websessions.COOKIE_NAME, ""))
    response = RedirectResponse("/dashboard/signin", status_code=303, headers={"Cache-Control": "no-store"})
    response.delete_cookie(websessions.COOKIE_NAME, path="/")
    return response


async def forgot_page(request: Request) -> Response:
    return _show(request, "forgot.html", "Reset your password", {"sent": False})


async def forgot(request: Request) -> Response:
    try:
        form = await read_form(request, ("csrf", "email"), max_bytes=FORM_LIMIT)
        check_csrf(request, None, form["csrf"])
        await flows.forgot_password(services_of(request), form["email"])
    except SmartHubError as exc:
        return _show(request, "forgot.html", "Reset your password", {"sent": False, **error_context(exc)},
                     status=exc.status, headers=exc.headers)
    return _show(request, "forgot.html", "Reset your password", {"sent": True})


routes = [
    Route("/dashboard/signin", sign_in_page, methods=["GET"]),
    Route("/dashboard/signin", sign_in, methods=["POST"]),
    Route("/dashboard/signup", sign_up_page, methods=["GET"]),
    Route("/dashboard/signup", sign_up, methods=["POST"]),
    Route("/dashboard/signout", sign_out, methods=["POST"]),
    Route("/dashboard/forgot", forgot_page, methods=["GET"]),
    Route("/dashboard/forgot", forgot, methods=["POST"]),
]
