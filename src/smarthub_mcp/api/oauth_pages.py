"""The pages a person sees while connecting an app: sign in, then consent.

`GET /oauth/consent?request=ID` shows the sign-in form (no session yet) or the consent form;
`POST /oauth/signin` checks email and password (`POST /oauth/signup` makes a new account instead)
and sets the `smarthub_session` cookie
(identity/websessions.py); `POST /oauth/consent` records the decision once and sends the browser
back to the app with a code, or with `access_denied`. Both forms carry a CSRF token (api/csrf.py).

The consent page names the host that vouches for the app (a metadata document's host, else where
the codes go), not only the name the app gives itself, and shows the person's balance: the app
will spend it. Its CSP lets the form lead to that one redirect target, nothing else.
"""

from __future__ import annotations

from urllib.parse import urlencode, urlsplit

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from smarthub_mcp.api import csrf
from smarthub_mcp.api.authn import client_ip
from smarthub_mcp.api.html import HEADERS, error_block, error_page, esc, hidden, page, paragraph, read_form
from smarthub_mcp.billing.money import credits_for_people
from smarthub_mcp.errors import SmartHubError
from smarthub_mcp.identity import flows, websessions
from smarthub_mcp.identity.sessions import check_password
from smarthub_mcp.identity.users import create_user
from smarthub_mcp.oauth import google
from smarthub_mcp.oauth.authorize import issuer, response_url
from smarthub_mcp.oauth.clients import Client, find_client
from smarthub_mcp.oauth.errors import AuthorizationExpired, CsrfRefused
from smarthub_mcp.oauth.grants import create_code
from smarthub_mcp.oauth.requests import AuthorizationRequest, end_request, load_request
from smarthub_mcp.oauth.scopes import describe
from smarthub_mcp.services import Services

SIGN_IN_TITLE = "Sign in to SmartHub"
CONSENT_TITLE = "Connect an app to SmartHub"
FORM_LIMIT = 8192
NO_STORE = {"Cache-Control": "no-store"}


def _services(request: Request) -> Services:
    return request.app.state.services


async def _context(services: Services, request_id: str) -> tuple[AuthorizationRequest, Client]:
    found = await load_request(services, request_id)
    client = await find_client(services, found.client_id, fetch=False) if found else None
    if found is None or client is None or client.status != "active":
        raise AuthorizationExpired()
    return found, client


def _form_start(action: str, request_id: str, token: str) -> str:
    return f'<form method="post" action="{esc(action)}">{hidden("request", request_id)}{hidden("csrf", token)}'


def sign_in_body(request_id: str, token: str, email: str = "", error: SmartHubError | None = None,
                 *, with_google: bool = False) -> str:
    google_link = (f'<p><a href="/oauth/google/start?{esc(urlencode({"request": request_id}))}">'
                   "Sign in with Google</a></p><p>or with your email and password:</p>") if with_google else ""
    return (
        (error_block(error) if error else "")
        + paragraph("An app wants to connect to your SmartHub account. Sign in first.")
        + google_link
        + _form_start("/oauth/signin", request_id, token)
        + f'<label for="email">Email</label><input id="email" name="email" type="email" autocomplete="username"'
        f' required value="{esc(email)}">'
        '<label for="password">Password</label><input id="password" name="password" type="password"'
        ' autocomplete="current-password" required>'
        '<p><button type="submit">Sign in</button></p></form>'
        "<h2>New to SmartHub?</h2>"
        + _form_start("/oauth/signup", request_id, token)
        + '<label for="new-email">Your email</label><input id="new-email" name="email" type="email"'
        ' autocomplete="email" required>'
        '<label for="new-password">Choose a password</label><input id="new-password" name="password"'
        ' type="password" autocomplete="new-password" required>'
        '<p><button type="submit">Create an account</button></p></form>'
    )


def consent_body(found: AuthorizationRequest, client: Client, email: str, balance: str, token: str,
                 request_id: str) -> str:
    scopes = "".join(f"<li>{esc(describe(s))} <code>{esc(s)}</code></li>" for s in found.scopes)
    name = f" (it calls itself “{esc(client.name)}”)" if client.name and client.name != client.host else ""
    return (
        f"<p>The app at <strong>{esc(client.host)}</strong>{name} asks to use your account"
        f" <strong>{esc(email)}</strong>.</p>"
        f"<p>It will be able to:</p><ul>{scopes}</ul>"
        f"<p>Your balance: <strong>{esc(balance)}</strong>. Paid calls the app makes are charged to it.</p>"
        f"<p>After you answer you go back to <code>{esc(urlsplit(found.redirect_uri).netloc or found.redirect_uri)}"
        "</code>. You can disconnect the app at any time.</p>"
        + _form_start("/oauth/consent", request_id, token)
        + '<p><button type="submit" name="decision" value="approve">Allow</button> '
        '<button type="submit" name="decision" value="deny">Deny</button></p></form>'
    )


def _target(redirect_uri: str) -> str:
    """The CSP source for the page's one allowed form destination (after our 303)."""
    parts = urlsplit(redirect_uri)
    if parts.scheme in ("http", "https"):
        return f"{parts.scheme}://{parts.netloc}"
    return f"{parts.scheme}:"


def _with_csrf(response: Response, services: Services, cookie: str, is_new: bool) -> Response:
    if is_new:
        csrf.set_cookie(response, services, cookie)
    return response


async def consent_page(request: Request) -> Response:
    services = _services(request)
    request_id = request.query_params.get("request", "")
    try:
        found, client = await _context(services, request_id)
    except SmartHubError as exc:
        return error_page(CONSENT_TITLE, exc)
    cookie, is_new = csrf.browser_value(request)
    token = csrf.token_for(services, cookie, request_id)
    session = await websessions.session_user(services, request.cookies.get(websessions.COOKIE_NAME))
    if session is None:
        body = sign_in_body(request_id, token, with_google=google.enabled(services))
        return _with_csrf(page(SIGN_IN_TITLE, body), services, cookie, is_new)
    balance = credits_for_people((await services.ledger.balance(session.user_id)).balance)
    response = page(CONSENT_TITLE, consent_body(found, client, session.email, balance, token, request_id))
    policy = HEADERS["Content-Security-Policy"].replace("form-action 'self'",
                                                        f"form-action 'self' {_target(found.redirect_uri)}")
    response.headers["Content-Security-Policy"] = policy
    return _with_csrf(response, services, cookie, is_new)


async def sign_in(request: Request) -> Response:
    services = _services(request)
    try:
        form = await read_form(request, ("request", "csrf", "email", "password"), max_bytes=FORM_LIMIT)
        await _context(services, form["request"])
        if not csrf.token_ok(services, request, form["request"], form["csrf"]):
            raise CsrfRefused()
    except SmartHubError as exc:
        return error_page(SIGN_IN_TITLE, exc)
    try:
        user = await check_password(services, form["email"], form["password"], client_ip(request))
    except SmartHubError as exc:
        body = sign_in_body(form["request"], form["csrf"], form["email"], exc, with_google=google.enabled(services))
        return page(SIGN_IN_TITLE, body, status=exc.status, headers=exc.headers)
    return await start_browser_session(services, user.id, form["request"])


async def sign_up(request: Request) -> Response:
    """A new account from the sign-in page, like `POST /api/v1/auth/register`: capped per client IP,
    the sign-up credits granted, a verification email sent; then signed in, on to the consent page."""
    services = _services(request)
    try:
        form = await read_form(request, ("request", "csrf", "email", "password"), max_bytes=FORM_LIMIT)
        await _context(services, form["request"])
        if not csrf.token_ok(services, request, form["request"], form["csrf"]):
            raise CsrfRefused()
    except SmartHubError as exc:
        return error_page(SIGN_IN_TITLE, exc)
    try:
        await flows.count_signup(services, client_ip(request))
        user = await create_user(services, form["email"], form["password"])
    except SmartHubError as exc:
        body = sign_in_body(form["request"], form["csrf"], "", exc, with_google=google.enabled(services))
        return page(SIGN_IN_TITLE, body, status=exc.status, headers=exc.headers)
    await flows.send_verification(services, user)
    return await start_browser_session(services, user.id, form["request"])


async def start_browser_session(services: Services, user_id: str, request_id: str) -> Response:
    """Sign the browser in (cookie `smarthub_session`) and go on to the consent page."""
    value, ttl = await websessions.start_session(services, user_id)
    response = RedirectResponse(f"/oauth/consent?{urlencode({'request': request_id})}", status_code=303,
                                headers=NO_STORE)
    response.set_cookie(websessions.COOKIE_NAME, value, max_age=ttl, httponly=True, samesite="lax",
                        secure=csrf.secure_cookies(services), path="/")
    return response


async def decide(request: Request) -> Response:
    services = _services(request)
    try:
        form = await read_form(request, ("request", "csrf", "decision"), max_bytes=FORM_LIMIT)
        found, _client = await _context(services, form["request"])
        if not csrf.token_ok(services, request, form["request"], form["csrf"]):
            raise CsrfRefused()
        session = await websessions.session_user(services, request.cookies.get(websessions.COOKIE_NAME))
        if session is None:
            return RedirectResponse(f"/oauth/consent?request={form['request']}", status_code=303, headers=NO_STORE)
        if not await end_request(services, form["request"]):
            raise AuthorizationExpired()
    except SmartHubError as exc:
        return error_page(CONSENT_TITLE, exc)
    params: dict[str, str | None] = {"state": found.state, "iss": issuer(services)}
    if form["decision"] == "approve":
        params["code"] = await create_code(services, session.user_id, found)
    else:
        params.update(error="access_denied", error_description="the user denied the request")
    return RedirectResponse(response_url(found.redirect_uri, params), status_code=303, headers=NO_STORE)


routes = [
    Route("/oauth/consent", consent_page, methods=["GET"]),
    Route("/oauth/consent", decide, methods=["POST"]),
    Route("/oauth/signin", sign_in, methods=["POST"]),
    Route("/oauth/signup", sign_up, methods=["POST"]),
]
