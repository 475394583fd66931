"""The auth matrix over every HTTP route the app serves, generated from the routing table so a new
route cannot slip through: no credentials → 401 (except the public ones, listed here on purpose);
admin and manager routes called by a `user` or a `guest` → 403; never a 500."""

from __future__ import annotations

import re

import pytest

from smarthub_mcp.app import api_routes
from tests.factories import bearer, make_user_with_token

PUBLIC = {
    ("POST", "/auth/register"),
    ("POST", "/auth/login"),
    ("POST", "/auth/refresh"),
    ("POST", "/auth/logout"),  # takes the refresh token in the body
    ("POST", "/auth/verify-email"),
    ("POST", "/auth/forgot-password"),
    ("POST", "/auth/reset-password"),
    ("GET", "/templates/public"),  # the gallery
    ("GET", "/templates/popular"),
    ("GET", "/tools/openapi.json"),  # a Custom GPT imports it before it has a key
    ("GET", "/credits/packages"),  # prices are public
    ("POST", "/payments/stripe/webhook"),  # authenticated by Stripe's signature instead
}
PRIVILEGED = re.compile(r"^/admin/|^/promo/codes")


def every_route(services) -> list[tuple[str, str]]:
    found = []
    for route in api_routes(services):
        for method in sorted(route.methods - {"HEAD"}):
            found.append((method, route.path))
    return found


def concrete(path: str) -> str:
    return "/api/v1" + re.sub(r"\{[^}]+\}", "x1", path.replace("{version:int}", "1"))


async def test_every_private_route_needs_credentials(services, client):
    checked = 0
    for method, path in every_route(services):
        response = await client.request(method, concrete(path), json={})
        assert response.status_code != 500, (method, path, response.text)  # 503 = feature not configured
        if (method, path) in PUBLIC:
            continue
        assert response.status_code == 401, (method, path, response.status_code)
        assert response.json()["error"]["code"] == "unauthenticated"
        assert "www-authenticate" in response.headers, (method, path)
        checked += 1
    assert checked > 30


@pytest.mark.parametrize("role", ["guest", "user"])
async def test_admin_routes_refuse_users_and_guests(services, client, role):
    _, token = await make_user_with_token(services, role=role)
    checked = 0
    for method, path in every_route(services):
        if not PRIVILEGED.search(path):
            continue
        response = await client.request(method, concrete(path), json={}, headers=bearer(token))
        assert response.status_code == 403, (role, method, path, response.status_code, response.text)
        assert response.json()["error"]["code"] == "forbidden"
        checked += 1
    assert checked >= 15
