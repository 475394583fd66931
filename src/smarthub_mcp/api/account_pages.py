"""The pages the emailed links open: `/verify-email?token=...` and `/reset-password?token=...`.

GET only shows a form; its POST does the work, through the same flow functions as the JSON API
(`POST /api/v1/auth/verify-email` and `/reset-password`). GET must not act: mail scanners and
link previewers fetch links before the user does, and would spend the single-use token (or
confirm an address nobody read).

No CSRF token: each form carries the link's single-use token, which is the very secret a forged
request would need. No session cookie or other ambient credential is involved, so a cross-site
POST without the token can do nothing.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Route

from smarthub_mcp.api.auth import BODY_LIMIT
from smarthub_mcp.api.html import error_page, hidden, page, paragraph, read_form
from smarthub_mcp.errors import SmartHubError
from smarthub_mcp.identity import flows
from smarthub_mcp.identity.errors import InvalidEmailToken, PasswordMismatch
from smarthub_mcp.identity.passwords import normalize_password
from smarthub_mcp.services import Services

VERIFY_TITLE = "Confirm your email address"
RESET_TITLE = "Choose a new password"
# Relative actions, so the forms post back to where the page was served, path prefix included.
VERIFY_ACTION, RESET_ACTION = "verify-email", "reset-password"
ASK_AGAIN_VERIFY = paragraph("Sign in and ask for a new confirmation email, then open the newest link.")
ASK_AGAIN_RESET = paragraph("Ask for a new password-reset email, then open the newest link.")


def _services(request: Request) -> Services:
    return request.app.state.services


def link_token(value: str) -> str:
    """`value` if it can be a link token at all; the flows judge whether it is a live one."""
    if not value or len(value) > flows.MAX_TOKEN_CHARS:
        raise InvalidEmailToken("This link is incomplete or damaged: open the whole link from the email")
    return value


# --- email verification ---------------------------------------------------------------------


def verify_form(token: str) -> str:
    return (
        f'<form method="post" action="{VERIFY_ACTION}">{hidden("token", token)}'
        '<button type="submit">Confirm my email address</button></form>'
    )


def verify_refused(exc: SmartHubError) -> HTMLResponse:
    return error_page(VERIFY_TITLE, exc, more=ASK_AGAIN_VERIFY if isinstance(exc, InvalidEmailToken) else "")


async def verify_page(request: Request) -> HTMLResponse:
    try:
        token = link_token(request.query_params.get("token", ""))
    except SmartHubError as exc:
        return verify_refused(exc)
    intro = paragraph("Press the button to confirm this address for your SmartHub account.")
    return page(VERIFY_TITLE, intro + verify_form(token))


async def verify_submit(request: Request) -> HTMLResponse:
    try:
        form = await read_form(request, ("token",), max_bytes=BODY_LIMIT)
        user = await flows.verify_email(_services(request), link_token(form["token"]))
    except SmartHubError as exc:
        return verify_refused(exc)
    return page("Email address confirmed", paragraph(f"{user.email} is confirmed. You can close this page."))


# --- password reset -------------------------------------------------------------------------


def reset_form(token: str, min_length: int) -> str:
    # No minlength attribute: browsers count UTF-16 units, the policy counts NFKC characters.
    field = '<input type="password" name="{}" autocomplete="new-password" required>'
    return (
        f'<form method="post" action="{RESET_ACTION}">{hidden("token", token)}'
        f"<label>New password (at least {min_length} characters){field.format('new_password')}</label>"
        f"<label>The same password again{field.format('confirm_password')}</label>"
        '<button type="submit">Set the new password</button></form>'
    )


async def reset_page(request: Request) -> HTMLResponse:
    services = _services(request)
    try:
        token = link_token(request.query_params.get("token", ""))
        await flows.check_reset_link(services, token)  # a read: the link stays usable
    except SmartHubError as exc:
        return error_page(RESET_TITLE, exc, more=ASK_AGAIN_RESET)
    intro = paragraph("Setting a new password signs out every session and revokes every API key of the account.")
    return page(RESET_TITLE, intro + reset_form(token, services.settings.auth.password_min_length))


async def reset_submit(request: Request) -> HTMLResponse:
    services = _services(request)
    token = None
    try:
        form = await read_form(request, ("token", "new_password", "confirm_password"), max_bytes=BODY_LIMIT)
        token = link_token(form["token"])
        if normalize_password(form["new_password"]) != normalize_password(form["confirm_password"]):
            raise PasswordMismatch("the two passwords differ", details={"field": "confirm_password"})
        revoked = await flows.reset_password(services, token, form["new_password"])
    except InvalidEmailToken as exc:
        return error_page(RESET_TITLE, exc, more=ASK_AGAIN_RESET)
    except SmartHubError as exc:
        # The flow checks the password before it spends the token, so the link still works: the
        # form again, to try another password.
        again = reset_form(token, services.settings.auth.password_min_length) if token else ""
        return error_page(RESET_TITLE, exc, more=again)
    keys = f" Its {revoked} API key{'s were' if revoked != 1 else ' was'} revoked: create new ones." if revoked else ""
    done = paragraph(
        "Your password was changed and every session of your account was signed out."
        f"{keys} Sign in with the new password."
    )
    return page("Password changed", done)


routes = [
    Route("/verify-email", verify_page, methods=["GET"]),
    Route("/verify-email", verify_submit, methods=["POST"]),
    Route("/reset-password", reset_page, methods=["GET"]),
    Route("/reset-password", reset_submit, methods=["POST"]),
]
