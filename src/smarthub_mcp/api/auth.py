"""`/api/v1/auth/...`: register, login, refresh, logout, me, email verification, passwords."""

from __future__ import annotations

import logging
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from smarthub_mcp.api.authn import authenticate, client_ip
from smarthub_mcp.api.body import read_json
from smarthub_mcp.errors import SmartHubError
from smarthub_mcp.identity import flows, sessions
from smarthub_mcp.identity.users import create_user, get_user
from smarthub_mcp.services import Services

BODY_LIMIT = 16_384  # auth bodies are small; a tight limit keeps hashing-heavy routes cheap to refuse


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid", str_max_length=4096)


class RegisterBody(Body):
    email: str = Field(max_length=320)
    password: str = Field(max_length=1024)
    display_name: str | None = Field(None, max_length=400)


class LoginBody(Body):
    email: str = Field(max_length=320)
    password: str = Field(max_length=1024)


class RefreshBody(Body):
    refresh_token: str = Field(max_length=200)


class LogoutBody(Body):
    refresh_token: str | None = Field(None, max_length=200)


class TokenBody(Body):
    token: str = Field(max_length=200)


class EmailBody(Body):
    email: str = Field(max_length=320)


class ResetBody(Body):
    token: str = Field(max_length=200)
    new_password: str = Field(max_length=1024)


class ChangePasswordBody(Body):
    current_password: str = Field(max_length=1024)
    new_password: str = Field(max_length=1024)

log = logging.getLogger("smarthub.identity")


def _services(request: Request) -> Services:
    return request.app.state.services


async def register(request: Request) -> JSONResponse:
    body = await read_json(request, RegisterBody, max_bytes=BODY_LIMIT)
    services = _services(request)
    await flows.count_signup(services, client_ip(request))
    user = await create_user(services, body.email, body.password, display_name=body.display_name)
    async with services.db.write() as conn:
        pair = await sessions.issue_pair(conn, services, user)
    await flows.send_verification(services, user)
    return JSONResponse({"user": user.to_json(), **pair.to_json()}, status_code=201)


async def login(request: Request) -> JSONResponse:
    body = await read_json(request, LoginBody, max_bytes=BODY_LIMIT)
    _user, pair = await sessions.login(_services(request), body.email, body.password, client_ip(request))
    return JSONResponse(pair.to_json())


async def refresh(request: Request) -> JSONResponse:
    body = await read_json(request, RefreshBody, max_bytes=BODY_LIMIT)
    pair = await sessions.refresh(_services(request), body.refresh_token)
    return JSONResponse(pair.to_json())


async def logout(request: Request) -> JSONResponse:
    principal = await authenticate(request)
    principal.require_unscoped("Ending sessions")
    body = await read_json(request, LogoutBody, max_bytes=BODY_LIMIT)
    jti = principal.token_id if principal.auth_method == "jwt" else None
    token_exp = getattr(request.state, "token_exp", None)
    await sessions.logout(_services(request), principal.user_id, jti, body.refresh_token, token_exp)
    return JSONResponse({"status": "logged_out"})


async def me(request: Request) -> JSONResponse:
    principal = await authenticate(request)
    services = _services(request)
    async with services.db.read() as conn:
        user = await get_user(conn, principal.user_id)
    payload: dict[str, Any] = {
        **user.to_json(),
        "permissions": sorted(p for p in principal.permissions if principal.can(p)),
        "auth_method": principal.auth_method,
        "scopes": sorted(principal.scopes) if principal.scopes is not None else None,
    }
    return JSONResponse(payload)


async def verify_email(request: Request) -> JSONResponse:
    body = await read_json(request, TokenBody, max_bytes=BODY_LIMIT)
    user = await flows.verify_email(_services(request), body.token)
    return JSONResponse({"status": "verified", "user": user.to_json()})


async def resend_verification(request: Request) -> JSONResponse:
    principal = await authenticate(request)
    principal.require_unscoped("Sending account emails")
    sent = await flows.resend_verification(_services(request), principal)
    return JSONResponse({"status": "sent" if sent else "already_verified"})


async def forgot_password(request: Request) -> JSONResponse:
    body = await read_json(request, EmailBody, max_bytes=BODY_LIMIT)
    # The same answer, in the same time, whether or not the email has an account: the lookup and
    # the email happen after the response is sent.
    task = BackgroundTask(_forgot_password_quietly, _services(request), body.email)
    return JSONResponse({"status": "sent_if_account_exists"}, status_code=202, background=task)


async def _forgot_password_quietly(services: Services, email: str) -> None:
    try:
        await flows.forgot_password(services, email)
    except SmartHubError as exc:  # e.g. the rate limiter's Redis is down: its own warning says why
        log.warning("no password-reset email sent: %s", exc.code)
    except Exception:
        log.exception("sending a password-reset email failed")


async def reset_password(request: Request) -> JSONResponse:
    body = await read_json(request, ResetBody, max_bytes=BODY_LIMIT)
    revoked = await flows.reset_password(_services(request), body.token, body.new_password)
    return JSONResponse({"status": "password_reset", "api_keys_revoked": revoked})


async def change_password(request: Request) -> JSONResponse:
    principal = await authenticate(request)
    principal.require_unscoped("Changing the password")  # it answers an unscoped session pair
    body = await read_json(request, ChangePasswordBody, max_bytes=BODY_LIMIT)
    pair = await flows.change_password(_services(request), principal, body.current_password, body.new_password)
    return JSONResponse(pair.to_json())


routes = [
    Route("/auth/register", register, methods=["POST"]),
    Route("/auth/login", login, methods=["POST"]),
    Route("/auth/refresh", refresh, methods=["POST"]),
    Route("/auth/logout", logout, methods=["POST"]),
    Route("/auth/me", me, methods=["GET"]),
    Route("/auth/verify-email", verify_email, methods=["POST"]),
    Route("/auth/resend-verification", resend_verification, methods=["POST"]),
    Route("/auth/forgot-password", forgot_password, methods=["POST"]),
    Route("/auth/reset-password", reset_password, methods=["POST"]),
    Route("/auth/change-password", change_password, methods=["POST"]),
]
