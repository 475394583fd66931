"""Outside /api/v1 and /v1 too, a wrong path or method answers in the one JSON error shape, while the
MCP app keeps /mcp and its OAuth metadata at the root."""

from __future__ import annotations

MCP_HEADERS = {"accept": "application/json, text/event-stream"}


async def test_wrong_methods_at_the_root_are_a_json_405(client):
    for path in ("/healthz", "/readyz", "/metrics", "/.well-known/jwks.json",
                 "/.well-known/oauth-protected-resource/mcp"):
        for method in ("POST", "PUT", "DELETE"):
            response = await client.request(method, path)
            assert response.status_code == 405, (method, path, response.status_code, response.text)
            assert response.json()["error"]["code"] == "method_not_allowed", (method, path)
            assert "GET" in response.headers["allow"], (method, path)


async def test_unknown_paths_at_the_root_are_a_json_404(client):
    # Not "/": that is the home page.
    for path in ("/nope", "/mcpx", "/mcp/extra", "/.well-known/nope", "/api", "/healthzz", "/docsx"):
        response = await client.get(path, headers={"x-request-id": "root-404"})
        assert response.status_code == 404, (path, response.status_code, response.text)
        assert response.json() == {"error": {"code": "not_found", "message": "Not Found", "details": {}}}, path
        assert response.headers["x-request-id"] == "root-404"


async def test_the_mcp_app_still_owns_its_paths(client):
    unauthenticated = await client.post("/mcp", json={"jsonrpc": "2.0", "id": 1, "method": "ping"}, headers=MCP_HEADERS)
    assert unauthenticated.status_code == 401 and "resource_metadata=" in unauthenticated.headers["www-authenticate"]
    metadata = await client.get("/.well-known/oauth-protected-resource/mcp")
    assert metadata.status_code == 200 and metadata.json()["resource"].endswith("/mcp")
    assert (await client.get("/healthz")).status_code == 200
