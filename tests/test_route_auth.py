"""The auth matrix over every HTTP route the app serves, generated from the routing table so a new
route cannot slip through: no credentials → 401 (except the public ones, listed here on purpose);
admin and manager routes called by a `user` or a `guest` → 403; never a 500. Every route but the MCP
app's is covered: those at the top level (probes, metrics, the pages links open) and those of every
other mount (the HTTP API at /api/v1, the OpenAI-compatible API at /v1)."""

from __future__ import annotations

import json
import re
from urllib.parse import urlencode

import pytest
from starlette.routing import Mount, Route

from smarthub_mcp.api.rootmount import RootMount
from smarthub_mcp.tools.catalog import all_tools
from tests.factories import bearer, make_user_with_token

PUBLIC = {
    ("GET", "/healthz"),
    ("GET", "/readyz"),
    ("GET", "/.well-known/jwks.json"),
    # The pages emailed links and Stripe's redirects open: a link's token is the credential.
    ("GET", "/verify-email"),
    ("POST", "/verify-email"),
    ("GET", "/reset-password"),
    ("POST", "/reset-password"),
    ("GET", "/payments/success"),
    ("GET", "/payments/cancel"),
    ("POST", "/api/v1/auth/register"),
    ("POST", "/api/v1/auth/login"),
    ("POST", "/api/v1/auth/refresh"),
    ("POST", "/api/v1/auth/logout"),  # takes the refresh token in the body
    ("POST", "/api/v1/auth/verify-email"),
    ("POST", "/api/v1/auth/forgot-password"),
    ("POST", "/api/v1/auth/reset-password"),
    ("GET", "/api/v1/templates/public"),  # the gallery
    ("GET", "/api/v1/templates/popular"),
    ("GET", "/api/v1/tools/openapi.json"),  # a Custom GPT imports it before it has a key
    ("GET", "/api/v1/openapi.json"),  # the whole API's document, and the pages that show it
    ("GET", "/"),
    ("GET", "/docs"),
    ("GET", "/docs/init.js"),
    ("GET", "/api/v1/credits/packages"),  # prices are public
    ("POST", "/api/v1/payments/stripe/webhook"),  # authenticated by Stripe's signature instead
    ("GET", "/media/{key:path}"),  # a media download link: its signature is the credential
    ("POST", "/webhooks/jobs/{job_id}/{token}"),  # a provider posting a job's result: the URL's HMAC
    ("GET", "/mcp"),  # 405 for everyone: the stateless MCP endpoint offers no event stream
    # The OAuth authorization server: its metadata, the endpoints clients call (they authenticate as
    # clients, not users) and the sign-in and consent pages.
    *((m, p) for p in ("/.well-known/oauth-authorization-server", "/.well-known/oauth-protected-resource/mcp")
      for m in ("GET", "OPTIONS")),
    *((m, p) for p in ("/token", "/revoke", "/register") for m in ("POST", "OPTIONS")),
    ("GET", "/authorize"),
    ("POST", "/authorize"),
    ("GET", "/oauth/consent"),
    ("POST", "/oauth/consent"),
    ("POST", "/oauth/signin"),
    ("POST", "/oauth/signup"),
    ("GET", "/oauth/google/start"),
    ("GET", "/oauth/google/callback"),
    # The dashboard's own files and the pages that sign a browser in; its other pages need the
    # browser session (SESSION_PAGES).
    ("GET", "/dashboard/static/{name}"),
    *((m, f"/dashboard/{p}") for p in ("signin", "signup", "forgot") for m in ("GET", "POST")),
}
SESSION_PAGES = re.compile(r"^/dashboard")
"""Without a browser session (a bearer token is not one) these answer 303 to the sign-in page."""
OAUTH_JSON = {("POST", "/token"), ("POST", "/revoke"), ("POST", "/register")}
"""These answer in OAuth's error shape (RFC 6749 §5.2: `{"error": code, "error_description"}`)."""
PRIVILEGED = re.compile(r"^/api/v1/admin/|^/api/v1/promo/codes|^/metrics$")


def every_route(app) -> list[tuple[str, str]]:
    """(method, full path) of every route at the top level and under every mount; the MCP app's own
    routes, behind the RootMount, are the SDK's."""
    found = []
    for entry in app.routes:
        if isinstance(entry, RootMount):
            continue
        if isinstance(entry, Mount):
            prefix, routes = entry.path, entry.routes
        else:
            prefix, routes = "", [entry]
        for route in routes:
            assert isinstance(route, Route), route
            for method in sorted(route.methods - {"HEAD"}):
                found.append((method, prefix + route.path))
    assert any(path.startswith("/v1/") for _, path in found)
    assert ("GET", "/healthz") in found
    return found


def concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "x1", path)


async def test_every_private_route_needs_credentials(app, client):
    checked = 0
    for method, path in every_route(app):
        response = await client.request(method, concrete(path), json={})
        assert response.status_code != 500, (method, path, response.text)  # 503 = feature not configured
        if (method, path) in PUBLIC:
            continue
        if SESSION_PAGES.search(path):
            assert response.status_code == 303, (method, path, response.status_code)
            assert response.headers["location"].startswith("/dashboard/signin"), (method, path)
            continue
        assert response.status_code == 401, (method, path, response.status_code)
        assert response.json()["error"]["code"] == "unauthenticated"
        assert "www-authenticate" in response.headers, (method, path)
        checked += 1
    assert checked > 30


@pytest.mark.parametrize("role", ["guest", "user"])
async def test_admin_routes_refuse_users_and_guests(services, app, client, role):
    checked = 0
    for method, path in every_route(app):
        if not PRIVILEGED.search(path):
            continue
        # A user of its own per route: a guest may send 10 requests a minute, and there are more routes.
        _, token = await make_user_with_token(services, role=role)
        response = await client.request(method, concrete(path), json={}, headers=bearer(token))
        assert response.status_code == 403, (role, method, path, response.status_code, response.text)
        assert response.json()["error"]["code"] == "forbidden"
        checked += 1
    assert checked >= 15


async def test_no_route_reads_a_body_past_the_limit(services, app, client):
    """An admin (who passes every permission check) sends every POST, PUT and PATCH route a body
    fifty times the limit, chunked and without a Content-Length: each stops reading at the limit
    and answers 413, or answers without reading it. Buffering the whole body first would let any
    caller hold the server's memory with one request."""
    _, token = await make_user_with_token(services, role="admin")
    limit = services.settings.server.max_body_bytes
    chunk = b"x" * 65_536
    checked = 0
    for method, path in every_route(app):
        if method not in ("POST", "PUT", "PATCH"):
            continue
        sent = 0

        async def huge():
            nonlocal sent
            while sent < 50 * limit:
                sent += len(chunk)
                yield chunk

        response = await client.request(method, concrete(path), content=huge(), headers=bearer(token))
        assert response.status_code != 500, (method, path, response.text)
        assert sent <= limit + 2 * len(chunk), (method, path, sent, response.status_code)
        if sent > limit:
            assert response.status_code == 413, (method, path, response.status_code)
            checked += 1
    assert checked >= 10


BODILESS = {("POST", "/api/v1/auth/resend-verification")}  # acts on the signed-in user; reads no body
UNREADABLE_BODIES = {
    "5000-digit integer": b'{"amount": ' + b"9" * 5000 + b', "items": [{"n": 1}]}',
    "lone surrogate": json.dumps({"name": "\ud800", "items": [{"\udfff": "x"}]}).encode(),
    "NUL": json.dumps({"email": "xa\u0000b@example.com", "reason": "a\u0000", "idempotency_key": "k"}).encode(),
}


async def test_no_route_fails_on_a_body_nothing_downstream_can_take(services, app, client):
    """An admin (past every permission check) sends every POST, PUT and PATCH route a body holding an
    integer too long for int(), a lone surrogate or a NUL: each answers a 4xx in the JSON error shape
    (or 503 where the feature is not configured), never a 500, on SQLite and PostgreSQL alike."""
    _, token = await make_user_with_token(services, role="admin")
    checked = 0
    routes = [(m, p) for m, p in every_route(app) if m in ("POST", "PUT", "PATCH")]
    tools = [("POST", f"/api/v1/tools/{name}") for name in all_tools()]  # the facade route, once per tool
    for method, path in routes + tools:
        for kind, body in UNREADABLE_BODIES.items():
            response = await client.request(method, concrete(path), content=body,
                                             headers={**bearer(token), "content-type": "application/json"})
            if (method, path) in BODILESS:
                assert response.status_code < 500 or response.status_code == 503, (method, path, kind, response.text)
                continue
            if SESSION_PAGES.search(path) and (method, path) not in PUBLIC:  # no session: the sign-in page
                assert response.status_code == 303, (method, path, kind, response.status_code)
                continue
            assert 400 <= response.status_code < 500 or response.status_code == 503, (
                method, path, kind, response.status_code, response.text)
            if response.headers["content-type"].startswith("text/html"):  # the pages emailed links open
                assert (method, path) in PAGES and "unsupported_media_type" in response.text, (method, path, kind)
                continue
            assert response.headers["content-type"] == "application/json", (method, path, kind)
            if (method, path) in OAUTH_JSON:
                assert isinstance(response.json()["error"], str), (method, path, kind)
                continue
            assert response.json()["error"]["code"], (method, path, kind)
            checked += 1
    assert checked >= 60


PAGES = {("POST", "/verify-email"), ("POST", "/reset-password"), ("POST", "/authorize"), ("POST", "/oauth/consent"),
         ("POST", "/oauth/signin"), ("POST", "/oauth/signup"), ("POST", "/dashboard/signin"),
         ("POST", "/dashboard/signup"), ("POST", "/dashboard/forgot")}


@pytest.mark.parametrize("path", ["/reset-password", "/verify-email"])
async def test_the_pages_forms_refuse_text_the_database_cannot_take(client, path):
    for token in ("a\x00b", "a\ud800b"):
        body = urlencode({"token": token, "new_password": "x" * 12, "confirm_password": "x" * 12},
                         errors="surrogatepass").encode()
        response = await client.post(path, content=body,
                                     headers={"content-type": "application/x-www-form-urlencoded"})
        assert response.status_code == 400, (path, token, response.status_code)
        assert "invalid_request" in response.text
