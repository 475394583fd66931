"""A NUL in the path or query string is refused once, before any route: PostgreSQL cannot take it
as a parameter (a search, an id), and SQLite would silently cut the text at it."""

from __future__ import annotations

from tests.factories import bearer, make_user_with_token


async def test_nul_in_the_query_string_or_path_is_a_400(services, client):
    _, token = await make_user_with_token(services, role="admin")
    admin = bearer(token)
    for url in (
        "/api/v1/templates?search=a%00b",
        "/api/v1/templates?category=%00",
        "/api/v1/templates?a%00=1",
        "/api/v1/templates/public?tag=x%00",
        "/api/v1/admin/users?q=a%00b",
        "/api/v1/admin/payments?user_id=%00",
        "/api/v1/templates/tpl%00x",
        "/api/v1/promo/codes/p%00",
        "/v1/models/demo%00chat",
        "/api/v1/auth/login?x=%00",  # before any route: even where no one is signed in
    ):
        response = await client.get(url, headers={**admin, "x-request-id": "guard-1"})
        assert response.status_code == 400, (url, response.status_code, response.text)
        assert response.json()["error"]["code"] == "invalid_request", url
        assert response.headers["x-request-id"] == "guard-1"
    # Other odd text is the handlers' business: it reaches them and finds nothing.
    found = await client.get("/api/v1/templates?search=%E2%80%8B%F0%9F%98%80", headers=admin)
    assert found.status_code == 200 and found.json()["items"] == []
