"""API keys: created, listed (never shown again), revoked; scopes; last-used; the MCP verifier."""

from __future__ import annotations

import time

import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.server.auth.middleware.auth_context import get_access_token
from mcp.server.auth.settings import AuthSettings
from mcp.server.mcpserver import MCPServer
from sqlalchemy import text

from smarthub_mcp.app import transport_security
from smarthub_mcp.identity.errors import AccountDisabled
from smarthub_mcp.identity.principals import LAST_USED_GRANULARITY_MS, principal_for_api_key
from smarthub_mcp.identity.verifier import SmartHubTokenVerifier, principal_from_access_token
from tests.conftest import LiveServer
from tests.factories import bearer, make_api_key, make_user_with_token


async def new_key(client, token, **body):
    r = await client.post("/api/v1/keys", headers=bearer(token), json=body)
    assert r.status_code == 201, r.text
    return r.json()


async def test_create_list_use_revoke(client, services):
    user_id, token = await make_user_with_token(services, email="dev@example.com")
    created = await new_key(client, token, name="laptop")
    key = created["key"]
    assert key.startswith("shk_") and len(key) == 4 + 43
    assert created["prefix"] == key[:12] and created["name"] == "laptop"
    listed = (await client.get("/api/v1/keys", headers=bearer(token))).json()["keys"]
    assert [k["id"] for k in listed] == [created["id"]]
    assert "key" not in listed[0] and key not in str(listed)  # never shown again
    me = await client.get("/api/v1/auth/me", headers=bearer(key))
    assert me.status_code == 200 and me.json()["auth_method"] == "api_key" and me.json()["id"] == user_id
    async with services.db.read() as conn:
        stored = (await conn.execute(text("SELECT key_hash, last_used_at FROM api_keys"))).one()
    assert key not in stored.key_hash and stored.last_used_at is not None
    r = await client.delete(f"/api/v1/keys/{created['id']}", headers=bearer(token))
    assert r.status_code == 200 and r.json()["key"]["revoked_at"] is not None
    assert (await client.get("/api/v1/auth/me", headers=bearer(key))).status_code == 401
    assert (await client.get("/api/v1/keys", headers=bearer(token))).json()["keys"] == []


async def test_users_cannot_revoke_each_others_keys_but_admins_can(client, services):
    _, owner = await make_user_with_token(services)
    _, other = await make_user_with_token(services)
    admin_id, admin = await make_user_with_token(services, role="admin")
    created = await new_key(client, owner)
    r = await client.delete(f"/api/v1/keys/{created['id']}", headers=bearer(other))
    assert r.status_code == 404
    assert (await client.get("/api/v1/auth/me", headers=bearer(created["key"]))).status_code == 200
    r = await client.delete(f"/api/v1/keys/{created['id']}", headers=bearer(admin))
    assert r.status_code == 200
    assert (await client.get("/api/v1/auth/me", headers=bearer(created["key"]))).status_code == 401
    async with services.db.read() as conn:
        row = (await conn.execute(text("SELECT actor_id, action, target_id FROM audit_log"))).one()
    assert (row.actor_id, row.action, row.target_id) == (admin_id, "api_key.revoke", created["id"])


async def test_scopes_limit_a_key(client, services):
    _, token = await make_user_with_token(services)
    scoped = await new_key(client, token, name="chat only", scopes=["tools:chat"])
    assert scoped["scopes"] == ["tools:chat"]
    principal = await principal_for_api_key(services, scoped["key"])
    assert principal.can("tools:chat") and not principal.can("tools:image")
    # More than the owner has, or a malformed name: refused.
    r = await client.post("/api/v1/keys", headers=bearer(token), json={"scopes": ["users:manage"]})
    assert r.status_code == 403
    r = await client.post("/api/v1/keys", headers=bearer(token), json={"scopes": ["DROP TABLE"]})
    assert r.status_code == 400
    # A scoped key manages no keys: not a broader one, not even one like itself (a leaked key must not
    # outlive its revocation through a key it minted), and it neither lists nor revokes its owner's.
    other = await new_key(client, token, name="other")
    for method, path, body in (("POST", "/api/v1/keys", {}), ("POST", "/api/v1/keys", {"scopes": ["tools:image"]}),
                               ("POST", "/api/v1/keys", {"scopes": ["tools:chat"]}), ("GET", "/api/v1/keys", None),
                               ("DELETE", f"/api/v1/keys/{other['id']}", None)):
        r = await client.request(method, path, headers=bearer(scoped["key"]), json=body)
        assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden", (method, path, r.text)
    assert (await client.get("/api/v1/auth/me", headers=bearer(other["key"]))).status_code == 200
    # Nor does it reach what its scopes do not name over HTTP, as over MCP.
    for path, body in (("/api/v1/promo/redeem", {"code": "NOPE"}), ("/api/v1/credits/purchase", {"package_id": "x"})):
        r = await client.post(path, headers=bearer(scoped["key"]), json=body)
        assert r.status_code == 403, (path, r.text)
    # Nor the account itself: changing the password (which answers an unscoped session pair),
    # ending sessions, or sending account emails need a session or an unscoped key.
    for path, body in (("/api/v1/auth/change-password", {"current_password": "x" * 12, "new_password": "y" * 12}),
                       ("/api/v1/auth/logout", {}), ("/api/v1/auth/resend-verification", {})):
        r = await client.post(path, headers=bearer(scoped["key"]), json=body)
        assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden", (path, r.text)


async def test_expired_key_and_disabled_owner(client, services):
    user_id, token = await make_user_with_token(services)
    soon = int(time.time() * 1000) + 60_000
    created = await new_key(client, token, expires_at=soon)
    assert (await client.get("/api/v1/auth/me", headers=bearer(created["key"]))).status_code == 200
    async with services.db.write() as conn:
        await conn.execute(text("UPDATE api_keys SET expires_at = 1"))
    assert (await client.get("/api/v1/auth/me", headers=bearer(created["key"]))).status_code == 401
    r = await client.post("/api/v1/keys", headers=bearer(token), json={"expires_at": 5})
    assert r.status_code == 400
    key = await make_api_key(services, user_id)
    async with services.db.write() as conn:
        await conn.execute(text("UPDATE users SET status = 'disabled'"))
    with pytest.raises(AccountDisabled):
        await principal_for_api_key(services, key)


async def test_last_used_is_written_at_most_once_a_minute(services):
    user_id, _ = await make_user_with_token(services)
    key = await make_api_key(services, user_id)
    await principal_for_api_key(services, key)
    async with services.db.read() as conn:
        first = (await conn.execute(text("SELECT last_used_at FROM api_keys"))).scalar()
    for _ in range(5):
        await principal_for_api_key(services, key)
    async with services.db.read() as conn:
        assert (await conn.execute(text("SELECT last_used_at FROM api_keys"))).scalar() == first
    async with services.db.write() as conn:  # a minute later
        await conn.execute(text("UPDATE api_keys SET last_used_at = :t"), {"t": first - LAST_USED_GRANULARITY_MS})
    await principal_for_api_key(services, key)
    async with services.db.read() as conn:
        assert (await conn.execute(text("SELECT last_used_at FROM api_keys"))).scalar() >= first


async def test_routes_need_credentials(client):
    for method, path in [("GET", "/api/v1/keys"), ("POST", "/api/v1/keys"), ("DELETE", "/api/v1/keys/key_x"),
                         ("GET", "/api/v1/auth/me"), ("POST", "/api/v1/auth/logout"),
                         ("POST", "/api/v1/auth/change-password"), ("POST", "/api/v1/auth/resend-verification")]:
        r = await client.request(method, path, json={})
        assert r.status_code == 401, (method, path)
        assert "www-authenticate" in r.headers


async def test_verifier_behind_a_real_mcp_server(services):
    """The SDK's bearer middleware with our verifier: JWTs and API keys both reach tools as a Principal."""
    verifier = SmartHubTokenVerifier(services)
    server = MCPServer(
        name="t", token_verifier=verifier,
        auth=AuthSettings(
            issuer_url="http://127.0.0.1", resource_server_url="http://127.0.0.1/mcp",
            validate_token_resource=False,  # the verifier checks the JWT audience itself
        ),
    )

    @server.tool()
    def whoami() -> str:
        principal = principal_from_access_token(get_access_token())
        return f"{principal.email} {principal.role} {principal.auth_method}"

    app = server.streamable_http_app(
        streamable_http_path="/mcp", stateless_http=True,
        transport_security=transport_security(services.settings.server),
    )
    user_id, token = await make_user_with_token(services, email="mcp@example.com")
    key = await make_api_key(services, user_id)
    async with LiveServer(app) as live:
        for credential, method in ((token, "jwt"), (key, "api_key")):
            http = httpx2.AsyncClient(headers=bearer(credential))
            async with Client(streamable_http_client(f"{live.url}/mcp", http_client=http), mode="legacy") as c:
                result = await c.call_tool("whoami", {})
            assert result.content[0].text == f"mcp@example.com user {method}"
        async with httpx2.AsyncClient() as raw:
            r = await raw.post(f"{live.url}/mcp", headers=bearer("shk_forged"), json={})
            assert r.status_code == 401 and "invalid_token" in r.headers["www-authenticate"]
