"""A dry connection pool is a 503 `database_busy` with Retry-After on every transport, not a 500,
and the pool size is a setting (a replica opens at most 2 x pool_size PostgreSQL connections). A
database that refuses new connections (down, or out of connection slots) is a 503
`database_unavailable`, with its cause logged in one line."""

from __future__ import annotations

import contextlib
import logging
import secrets
from collections.abc import AsyncIterator

import httpx
import pytest
from mcp import Client
from sqlalchemy import text
from sqlalchemy.engine import make_url

from smarthub_mcp.app import build_app
from smarthub_mcp.compose import build_services
from smarthub_mcp.db import Database
from smarthub_mcp.tools.server import build_mcp_server
from tests.conftest import PG_URL, free_port, running_app
from tests.factories import bearer, make_api_key, make_user_with_token
from tests.fakes.tcp_proxy import TcpProxy


async def mcp_call(http: httpx.AsyncClient, credential: str) -> httpx.Response:
    """A `tools/call` over the Streamable HTTP endpoint, as a remote client sends it."""
    return await http.post("/mcp", headers={**bearer(credential), "accept": "application/json, text/event-stream"},
                           json={"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                                 "params": {"name": "get_balance", "arguments": {}}})


@contextlib.asynccontextmanager
async def every_connection_taken(services):
    """Hold the only connection of both pools (pool_size = 1)."""
    async with services.db.engine.connect() as held, services.db.asyncpg_autocommit() as hot:
        assert held is not None and hot is not None
        yield


async def test_a_dry_pool_answers_503_on_every_transport(make_config, db, backend):
    if backend != "postgresql":
        pytest.skip("the connection pools are PostgreSQL's; SQLite writers queue on the file lock")
    config = make_config(SMARTHUB_DATABASE__POOL_SIZE="1", SMARTHUB_DATABASE__POOL_TIMEOUT_SECONDS="0.3")
    services = build_services(config)
    user_id, token = await make_user_with_token(services)
    key = await make_api_key(services, user_id)
    app = build_app(services=services)
    async with running_app(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1") as http:
            async with every_connection_taken(services):
                answers = [
                    await http.get("/api/v1/credits/balance", headers=bearer(token)),
                    await http.post("/api/v1/tools/get_balance", json={}, headers=bearer(token)),
                    await http.post("/v1/chat/completions", headers=bearer(token),
                                    json={"model": "demo-chat", "messages": [{"role": "user", "content": "hi"}]}),
                    *[await mcp_call(http, credential) for credential in (token, key)],
                ]
                async with Client(build_mcp_server(services, api_key=key)) as mcp:
                    result = await mcp.call_tool("get_balance", {})
            for r in answers:
                assert r.status_code == 503, (r.request.url, r.text)
                assert r.headers["retry-after"] == "1"
                assert r.json()["error"]["code"] == "database_busy"
            assert result.is_error and "database_busy" in str(result.model_dump())
            # The pool is given back: the same calls work again.
            assert (await http.get("/api/v1/credits/balance", headers=bearer(token))).status_code == 200


def test_the_pool_size_is_a_setting(make_config):
    config = make_config(SMARTHUB_DATABASE__POOL_SIZE="4")
    services = build_services(config)
    assert services.db.engine.pool.size() == 4


@contextlib.asynccontextmanager
async def refusing(kind: str, database_url: str) -> AsyncIterator[str]:
    """`database_url`, changed so that PostgreSQL refuses every new connection: nothing listens at
    its port ("down"), something there hangs up at once ("closes"), or its role may open none
    ("full": the TooManyConnectionsError a server out of connection slots answers, from a real role
    with `CONNECTION LIMIT 0`)."""
    url = make_url(database_url)
    if kind == "down":
        yield url.set(port=free_port()).render_as_string(hide_password=False)
        return
    if kind == "closes":  # accepts, then hangs up: pgbouncer or a port proxy with the database down
        async with TcpProxy(url.host or "127.0.0.1", url.port or 5432) as proxy:
            proxy.cut()
            yield url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
        return
    role = f"smarthub_full_{secrets.token_hex(4)}"
    admin = Database(PG_URL, pool_size=1)
    try:
        async with admin.engine.connect() as conn:
            conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn.execute(text(f'CREATE ROLE "{role}" LOGIN CONNECTION LIMIT 0'))
        yield url.set(username=role).render_as_string(hide_password=False)
    finally:
        async with admin.engine.connect() as conn:
            conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn.execute(text(f'DROP ROLE IF EXISTS "{role}"'))
        await admin.close()


@pytest.mark.parametrize("kind", ["down", "closes", "full"])
async def test_a_database_that_refuses_connections_answers_503_with_one_line_each(
        make_config, db, backend, kind, caplog):
    if backend != "postgresql":
        pytest.skip("SQLite is a file: there is no connection to refuse")
    working = build_services(make_config())
    user_id, token = await make_user_with_token(working)
    key = await make_api_key(working, user_id)
    await working.db.close()
    async with refusing(kind, str(db.engine.url.render_as_string(hide_password=False))) as url:
        services = build_services(make_config(SMARTHUB_DATABASE_URL=url))
        app = build_app(services=services)
        caplog.set_level(logging.WARNING)
        async with running_app(app), httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                                       base_url="http://127.0.0.1") as http:
            answers = [
                await http.get("/api/v1/credits/balance", headers=bearer(token)),
                await http.post("/api/v1/tools/get_balance", json={}, headers=bearer(key)),
                await http.post("/v1/chat/completions", headers=bearer(key),
                                json={"model": "demo-chat", "messages": [{"role": "user", "content": "hi"}]}),
                # Over HTTP the token is checked before the MCP server sees the call: an outage
                # there must not read as a bad token (401), or the client throws its token away.
                *[await mcp_call(http, credential) for credential in (token, key)],
            ]
            async with Client(build_mcp_server(services, api_key=key)) as mcp:
                result = await mcp.call_tool("get_balance", {})
    for r in answers:
        assert r.status_code == 503, (r.request.url, r.text)
        assert r.headers["retry-after"] == "2" and r.json()["error"]["code"] == "database_unavailable"
    assert result.is_error and "database_unavailable" in str(result.model_dump())
    refusals = [r for r in caplog.records if r.name == "smarthub.db"]
    # "down": refused, or asyncio's form when every address of the host refused.
    causes = {"full": ("TooManyConnectionsError",),
              "closes": ("ConnectionError", "ConnectionResetError", "ConnectionDoesNotExistError"),
              "down": ("ConnectionRefusedError", "Multiple exceptions")}[kind]
    assert refusals and all(any(c in r.getMessage() for c in causes) for r in refusals)
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info], "no 500, no traceback"


async def test_connections_the_database_dropped_answer_503_then_work_again(make_config, db, database_url, backend,
                                                                         caplog):
    # What a database restart or failover leaves in every pool: connections that look open and are
    # not. A request that meets one is a 503 to retry, not a 500; the pools then open anew.
    if backend != "postgresql":
        pytest.skip("SQLite is a file: there is no connection to drop")
    url = make_url(database_url)
    async with TcpProxy(url.host or "127.0.0.1", url.port or 5432) as proxy:
        services = build_services(make_config(SMARTHUB_DATABASE__POOL_SIZE="1", SMARTHUB_DATABASE_URL=url.set(
            host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)))
        user_id, token = await make_user_with_token(services)
        key = await make_api_key(services, user_id)
        app = build_app(services=services)
        caplog.set_level(logging.WARNING)
        async with running_app(app), httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                                       base_url="http://127.0.0.1") as http:
            calls = [lambda: http.get("/api/v1/credits/balance", headers=bearer(token)),
                     lambda: http.post("/api/v1/tools/get_balance", json={}, headers=bearer(key)),
                     lambda: mcp_call(http, key),
                     lambda: http.post("/api/v1/images", headers=bearer(key),
                                       json={"prompt": "a fox", "model": "demo-image"})]
            assert [(await call()).status_code for call in calls] == [200, 200, 200, 200]
            proxy.cut()  # every pooled connection dies under the pools
            proxy.resume()
            answers = [await call() for call in calls for _ in range(2)]
            after = [(await call()).status_code for call in calls]
            assert await services.ledger.open_holds() == (0, None) and await services.ledger.check() == []
    statuses = [a.status_code for a in answers]
    assert 500 not in statuses and 503 in statuses, statuses
    for answer in answers:
        if answer.status_code == 503:
            assert answer.headers["retry-after"] == "2", answer.text
            assert answer.json()["error"]["code"] == "database_unavailable"
    assert after == [200, 200, 200, 200], "the pools opened new connections"
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], "an outage, not a fault: no traceback"
