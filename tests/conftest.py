"""Fixtures every suite reuses: a real database (SQLite file and PostgreSQL), the app in process,
and the app under a real uvicorn on a free loopback port.

PostgreSQL: one fresh database per test run (created here, dropped at the end), and one fresh
schema per test inside it, so tests never see each other's rows. The server comes from
`SMARTHUB_TEST_PG_URL` (default: the local server's `test` database). When it does not answer,
PostgreSQL cases are skipped with a message, unless `SMARTHUB_TEST_REQUIRE_PG=1` (CI), which
makes them fail instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import socket
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from sqlalchemy import text
from sqlalchemy.engine import make_url

from smarthub_mcp.app import build_app
from smarthub_mcp.compose import build_services
from smarthub_mcp.config import AppConfig, load_config
from smarthub_mcp.db import Database
from smarthub_mcp.services import Services
from tests.dbpool import SchemaPool, copy_sqlite, migrated_sqlite_file

PG_URL = os.environ.get("SMARTHUB_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")
if "SMARTHUB_TEST_PG_URL" not in os.environ:
    # The local server speaks no TLS, and asyncpg's default (`prefer`) builds an SSL context before
    # each connection it opens, to be refused: ~17 ms of CPU, and the suite opens thousands.
    os.environ.setdefault("PGSSLMODE", "disable")
REQUIRE_PG = os.environ.get("SMARTHUB_TEST_REQUIRE_PG") == "1"
TEST_JWT_SECRET = "test-secret-" + "x" * 40

BACKENDS = ["sqlite", "postgresql"]

# The demo providers with their queues cut short (`demo_queue_seconds`), for tests that make demo
# videos or queued demo images to check what comes out, not to watch them run.
QUICK_DEMO_TOML = """
[providers.demo]
type = "demo"

[providers.demo-image]
type = "demo-image"
demo_queue_seconds = 0.2

[providers.demo-video]
type = "demo-video"
demo_queue_seconds = 0.2
"""


# --- PostgreSQL: one database per run -------------------------------------------------------


@pytest.fixture(scope="session")
async def pg_database_url() -> AsyncIterator[str | None]:
    """URL of a fresh PostgreSQL database for this test run, or None when PostgreSQL is absent."""
    admin = Database(PG_URL, pool_size=1)
    name = f"smarthub_t_{os.getpid()}_{secrets.token_hex(3)}"
    try:
        async with admin.engine.connect() as conn:
            conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:
        await admin.close()
        if REQUIRE_PG:
            pytest.fail(f"PostgreSQL is required (SMARTHUB_TEST_REQUIRE_PG=1) but unreachable: {exc}")
        yield None
        return
    url = make_url(admin.url).set(database=name).render_as_string(hide_password=False)
    try:
        yield url
    finally:
        async with admin.engine.connect() as conn:
            conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await admin.close()


@pytest.fixture(scope="session", autouse=True)
async def _shared_browser() -> AsyncIterator[None]:
    """Closes the session's Chromium (tests/oauth/browser.py) if a test started it."""
    yield
    from tests.oauth.browser import SHARED

    await SHARED.close()


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture(scope="session")
async def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """This session's migrated SQLite file, copied for each test that asks for `db`."""
    return await migrated_sqlite_file(tmp_path_factory.mktemp("sqlite-template"))


@pytest.fixture(scope="session")
async def schema_pool(pg_database_url: str | None) -> AsyncIterator[SchemaPool | None]:
    """This session's migrated PostgreSQL schemas, reset and reused by the tests that ask for `db`."""
    if pg_database_url is None:
        yield None
        return
    pool = SchemaPool(pg_database_url)
    try:
        yield pool
    finally:
        await pool.close()


@pytest.fixture
async def database_url(
    backend: str, tmp_path: Path, pg_database_url: str | None, request: pytest.FixtureRequest,
    sqlite_template: Path, schema_pool: SchemaPool | None,
) -> AsyncIterator[str]:
    """A URL to a database of the parametrized backend, private to this test: migrated (with only
    the migrations' own rows) when the test uses `db`, else empty (tests/dbpool.py)."""
    migrated = "db" in request.fixturenames
    if backend == "sqlite":
        path = tmp_path / "smarthub.db"
        if migrated:
            copy_sqlite(sqlite_template, path)
        yield f"sqlite+aiosqlite:///{path}"
        return
    if pg_database_url is None:
        pytest.skip(f"PostgreSQL not reachable at {PG_URL} (set SMARTHUB_TEST_REQUIRE_PG=1 to fail instead)")
    if migrated and schema_pool is not None:
        schema = await schema_pool.take()
        try:
            yield f"{pg_database_url}?search_path={schema}"
        finally:
            schema_pool.give_back(schema)
        return
    schema = f"t_{secrets.token_hex(6)}"
    admin = Database(pg_database_url, pool_size=1)
    async with admin.engine.begin() as conn:
        await conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield f"{pg_database_url}?search_path={schema}"
    finally:
        async with admin.engine.begin() as conn:
            await conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        await admin.close()


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    """A migrated database holding only the migrations' own rows (SQLite file and PostgreSQL schema)."""
    database = Database(database_url, pool_size=5)
    try:
        yield database
    finally:
        await database.close()


# --- configuration and app -------------------------------------------------------------------


def base_env(database_url: str, **extra: str) -> dict[str, str]:
    env = {
        "SMARTHUB_DATABASE_URL": database_url,
        "SMARTHUB_JWT_SECRET": TEST_JWT_SECRET,
        "SMARTHUB_AUTH__DEV_MODE": "false",
        "ANTHROPIC_CONFIG_DIR": "/nonexistent-anthropic-config",
        # PostgreSQL's 100 connections are shared by the parallel test workers: small pools
        # (tests of the pool's own limits set theirs).
        "SMARTHUB_DATABASE__POOL_SIZE": "5",
        # The fakes serve generated outputs from loopback (tests/jobs/test_delivery.py checks the guard).
        "SMARTHUB_JOBS__FETCH_ALLOW_PRIVATE": "true",
    }
    env.update(extra)
    return env


@pytest.fixture
def make_config(database_url: str, tmp_path: Path) -> Callable[..., AppConfig]:
    """Build an AppConfig on the test database: `make_config(toml="...", SMARTHUB_X="y")`."""

    def _make(toml: str | None = None, **env: str) -> AppConfig:
        # Generated media goes under the test's own directory, never into the working tree.
        env.setdefault("SMARTHUB_STORAGE__DIRECTORY", str(tmp_path / "media"))
        path = None
        if toml is not None:
            path = tmp_path / f"config-{secrets.token_hex(3)}.toml"
            path.write_text(toml, encoding="utf-8")
        return load_config(path, env=base_env(database_url, **env))

    return _make


@pytest.fixture
def config(make_config: Callable[..., AppConfig]) -> AppConfig:
    return make_config()


@pytest.fixture
async def services(config: AppConfig, db: Database) -> Services:
    """Services on the upgraded test database (their own engine, closed by the app's lifespan)."""
    return build_services(config)


@contextlib.asynccontextmanager
async def running_app(app: Any) -> AsyncIterator[Any]:
    """Run an ASGI app's lifespan around a block (httpx's ASGI transport does not).

    The lifespan lives in a task of its own: pytest-asyncio may set a fixture up and tear it
    down in different tasks, and the MCP session manager's task group must exit where it entered.
    """
    ready, stop = asyncio.Event(), asyncio.Event()

    async def hold() -> None:
        async with app.router.lifespan_context(app):
            ready.set()
            await stop.wait()

    task = asyncio.create_task(hold())
    ready_wait = asyncio.create_task(ready.wait())
    await asyncio.wait({task, ready_wait}, timeout=60, return_when=asyncio.FIRST_COMPLETED)
    if task.done():
        ready_wait.cancel()
        task.result()
    try:
        yield app
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)


@pytest.fixture
async def app(services: Services) -> AsyncIterator[Any]:
    application = build_app(services=services)
    async with running_app(application):
        yield application


@pytest.fixture
async def client(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    """The app in process, through httpx's ASGI transport."""
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as c:
        yield c


# --- a real server ---------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LiveServer:
    """`port`: one chosen before the app was built (its public URL names it); `ssl`: uvicorn's
    `ssl_certfile`/`ssl_keyfile` for an https server."""

    def __init__(self, app: Any, port: int | None = None, **ssl: Any) -> None:
        self.port = port or free_port()
        self.url = f"{'https' if ssl else 'http'}://127.0.0.1:{self.port}"
        self.app = app
        self._server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=self.port, log_config=None, access_log=False, lifespan="on",
                           **ssl)
        )
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> LiveServer:
        self._task = asyncio.create_task(self._server.serve())
        with anyio_fail_after(10):
            while not self._server.started:
                if self._task.done():
                    self._task.result()
                await asyncio.sleep(0.01)
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._server.should_exit = True
        if self._task is not None:
            await asyncio.wait_for(self._task, 10)


def anyio_fail_after(seconds: float) -> Any:
    import anyio

    return anyio.fail_after(seconds)


@pytest.fixture
async def live_server(services: Services) -> AsyncIterator[LiveServer]:
    """The real app under uvicorn on a free loopback port."""
    async with LiveServer(build_app(services=services)) as server:
        yield server
