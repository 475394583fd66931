"""The app as a whole: health and readiness, the error shape, the frozen start-up heap, MCP over real HTTP."""

from __future__ import annotations

from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from smarthub_mcp.config import load_config
from tests.conftest import TEST_JWT_SECRET

NO_MODERATION_ENDPOINT = {"moderation": "block list", "moderation_when_down": "n/a"}
"""What /readyz says of moderation on the default settings (no moderation endpoint configured)."""


async def test_health_and_readiness(client):
    health = await client.get("/healthz")
    assert health.status_code == 200 and health.json()["status"] == "ok"
    assert health.headers["x-request-id"]
    ready = await client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["checks"]["database"] == "ok"


async def test_readiness_fails_when_database_is_unreachable(tmp_path):
    import httpx

    from smarthub_mcp.app import build_app
    from tests.conftest import running_app

    config = load_config(env={"SMARTHUB_DATABASE_URL": "postgresql://postgres@127.0.0.1:1/none",
                              "SMARTHUB_JWT_SECRET": TEST_JWT_SECRET})
    app = build_app(config)
    async with running_app(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
            assert (await client.get("/healthz")).status_code == 200
            ready = await client.get("/readyz")
    assert ready.status_code == 503
    assert ready.json() == {"status": "unavailable", "checks": {"database": "unreachable"},
                            "details": NO_MODERATION_ENDPOINT}


async def test_a_served_app_freezes_its_start_up_heap(config):
    import gc

    from smarthub_mcp.app import build_app
    from tests.conftest import running_app

    assert gc.get_freeze_count() == 0
    try:
        async with running_app(build_app(config, freeze_heap=True)):
            frozen = gc.get_freeze_count()
    finally:
        gc.unfreeze()  # the rest of the test session must stay collectable
    assert frozen > 10_000  # every module and schema alive at start-up


async def test_unknown_route_has_the_error_shape(client):
    response = await client.get("/api/v1/does-not-exist", headers={"x-request-id": "abc-123"})
    assert response.status_code == 404
    assert response.json() == {"error": {"code": "not_found", "message": "Not Found", "details": {}}}
    assert response.headers["x-request-id"] == "abc-123"


async def test_mcp_initialize_over_real_http(services, live_server):
    import httpx2

    from tests.factories import bearer, make_user_with_token

    _, token = await make_user_with_token(services)
    transport = streamable_http_client(f"{live_server.url}/mcp", http_client=httpx2.AsyncClient(headers=bearer(token)))
    async with Client(transport, mode="legacy") as client:
        assert client.server_info is not None and client.server_info.name == "smarthub"
        assert client.protocol_version == "2025-11-25"


async def test_get_mcp_offers_no_idle_event_stream(services, live_server):
    """The stateless transport has nothing to push: GET /mcp is 405 (Allow: POST), as the MCP spec
    allows, so no client can pile up idle streams; the SDK's client carries on without one."""
    import asyncio

    import httpx2

    from tests.factories import bearer, make_user_with_token

    _, token = await make_user_with_token(services)
    headers = {**bearer(token), "Accept": "text/event-stream"}
    async with httpx2.AsyncClient(timeout=5) as http:
        answers = await asyncio.gather(*(http.get(f"{live_server.url}/mcp", headers=headers) for _ in range(50)))
    assert {r.status_code for r in answers} == {405}
    assert answers[0].headers["allow"] == "POST"
    assert answers[0].json()["error"]["code"] == "method_not_allowed"
    transport = streamable_http_client(f"{live_server.url}/mcp", http_client=httpx2.AsyncClient(headers=bearer(token)))
    async with Client(transport, mode="legacy") as client:
        assert (await client.list_tools()).tools
