"""Admin routes: the role matrix, users (search, paging, role, status), roles, the audit log."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import text

from smarthub_mcp.identity.roles import ROLE_CACHE_TTL_SECONDS, RoleTable
from tests.factories import bearer, make_api_key, make_user_with_token

ADMIN_ROUTES = [
    ("GET", "/api/v1/admin/users", None),
    ("PATCH", "/api/v1/admin/users/usr_x", {"role": "admin"}),
    ("GET", "/api/v1/admin/roles", None),
    ("PUT", "/api/v1/admin/roles/user", {"permissions": ["tools:chat"]}),
]


@pytest.mark.parametrize(("method", "path", "body"), ADMIN_ROUTES)
async def test_admin_routes_matrix(client, services, method, path, body):
    r = await client.request(method, path, json=body)
    assert r.status_code == 401
    for role in ("guest", "user", "manager"):
        _, token = await make_user_with_token(services, role=role)
        r = await client.request(method, path, json=body, headers=bearer(token))
        assert r.status_code == 403, (role, r.text)
        assert r.json()["error"]["code"] == "forbidden"
    admin_id, admin = await make_user_with_token(services, role="admin")
    # An admin's API key limited to chat is not an admin credential.
    scoped = await make_api_key(services, admin_id, scopes=["tools:chat"])
    assert (await client.request(method, path, json=body, headers=bearer(scoped))).status_code == 403
    r = await client.request(method, path, json=body, headers=bearer(admin))
    assert r.status_code in (200, 404), r.text  # 404: the PATCH target does not exist


async def test_list_users_search_and_paging(client, services):
    _, admin = await make_user_with_token(services, role="admin", email="root@example.com")
    for i in range(5):
        await make_user_with_token(services, email=f"team{i}@corp.example")
    r = await client.get("/api/v1/admin/users", params={"q": "CORP", "limit": 2}, headers=bearer(admin))
    page = r.json()
    assert [u["email"] for u in page["users"]] == ["team0@corp.example", "team1@corp.example"]
    seen = [u["email"] for u in page["users"]]
    while page["next_cursor"]:
        params = {"q": "corp", "limit": 2, "cursor": page["next_cursor"]}
        page = (await client.get("/api/v1/admin/users", params=params, headers=bearer(admin))).json()
        seen += [u["email"] for u in page["users"]]
    assert seen == [f"team{i}@corp.example" for i in range(5)]
    # LIKE wildcards in the query are literal.
    assert (await client.get("/api/v1/admin/users", params={"q": "%"}, headers=bearer(admin))).json()["users"] == []
    r = await client.get("/api/v1/admin/users", params={"role": "admin"}, headers=bearer(admin))
    assert [u["email"] for u in r.json()["users"]] == ["root@example.com"]
    assert (await client.get("/api/v1/admin/users", params={"limit": "x"}, headers=bearer(admin))).status_code == 400


async def test_patch_user_role_and_status_with_audit(client, services):
    admin_id, admin = await make_user_with_token(services, role="admin")
    user_id, token = await make_user_with_token(services)
    r = await client.patch(f"/api/v1/admin/users/{user_id}", json={"role": "manager"},
                           headers={**bearer(admin), "x-request-id": "req-42"})
    assert r.status_code == 200 and r.json()["user"]["role"] == "manager"
    # The user's existing token carries the new role at once.
    me = (await client.get("/api/v1/auth/me", headers=bearer(token))).json()
    assert me["role"] == "manager" and "promo:manage" in me["permissions"]
    r = await client.patch(f"/api/v1/admin/users/{user_id}", json={"status": "disabled"}, headers=bearer(admin))
    assert r.status_code == 200
    refused = await client.get("/api/v1/auth/me", headers=bearer(token))
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "account_disabled"
    async with services.db.read() as conn:
        rows = (await conn.execute(text("SELECT * FROM audit_log ORDER BY id"))).all()
    assert [(r.action, r.actor_id, r.target_id) for r in rows] == [
        ("user.update", admin_id, user_id), ("user.update", admin_id, user_id)]
    assert json.loads(rows[0].before_json) == {"role": "user"} and json.loads(rows[0].after_json) == {"role": "manager"}
    assert rows[0].request_id == "req-42" and rows[0].ip
    # Bad input.
    for body, status in (({"role": "king"}, 400), ({"status": "gone"}, 400), ({}, 400), ({"x": 1}, 400)):
        assert (await client.patch(f"/api/v1/admin/users/{user_id}", json=body, headers=bearer(admin))).status_code \
            == status
    r = await client.patch(f"/api/v1/admin/users/{admin_id}", json={"status": "disabled"}, headers=bearer(admin))
    assert r.status_code == 409


async def test_roles_are_editable_and_seen_quickly(client, services):
    _, admin = await make_user_with_token(services, role="admin")
    _, guest = await make_user_with_token(services, role="guest")
    roles = (await client.get("/api/v1/admin/roles", headers=bearer(admin))).json()["roles"]
    assert [r["name"] for r in roles] == ["guest", "user", "manager", "admin"]
    by_name = {r["name"]: r for r in roles}
    # Inheritance: each role holds everything below it.
    for lower, higher in (("guest", "user"), ("user", "manager"), ("manager", "admin")):
        assert set(by_name[lower]["effective_permissions"]) < set(by_name[higher]["effective_permissions"])
    assert "tools:image" not in (await client.get("/api/v1/auth/me", headers=bearer(guest))).json()["permissions"]
    wanted = {"permissions": ["tools:chat", "credits:read", "tools:image"]}
    r = await client.put("/api/v1/admin/roles/guest", json=wanted, headers=bearer(admin))
    assert r.status_code == 200
    # This replica sees it at once; the user role inherits it.
    assert "tools:image" in (await client.get("/api/v1/auth/me", headers=bearer(guest))).json()["permissions"]
    # Another replica's cache is at most ROLE_CACHE_TTL_SECONDS old: a fresh table reads the change.
    assert "tools:image" in await RoleTable(services.db).permissions("guest")
    assert ROLE_CACHE_TTL_SECONDS <= 5
    async with services.db.read() as conn:
        row = (await conn.execute(text("SELECT action, target_id, after_json FROM audit_log"))).one()
    assert row.action == "role.update" and row.target_id == "guest" and "tools:image" in row.after_json
    # Guard rails.
    empty = {"permissions": []}
    assert (await client.put("/api/v1/admin/roles/admin", json=empty, headers=bearer(admin))).status_code == 409
    assert (await client.put("/api/v1/admin/roles/king", json=empty, headers=bearer(admin))).status_code == 400
    r = await client.put("/api/v1/admin/roles/user", json={"permissions": ["Not A Permission"]}, headers=bearer(admin))
    assert r.status_code == 400


async def test_role_cache_ttl(services):
    table = RoleTable(services.db, ttl=3600)
    assert "tools:chat" in await table.permissions("guest")
    async with services.db.write() as conn:
        await conn.execute(text("DELETE FROM role_permissions WHERE role = 'guest'"))
    assert "tools:chat" in await table.permissions("guest")  # cached
    table.invalidate()
    assert "tools:chat" not in await table.permissions("guest")
