"""The app under uvicorn in a thread of its own, for tests whose client is synchronous (schemathesis
calls the server with `requests` from the test's thread, so the server needs its own event loop).

The thread builds everything it serves on its loop: the database (a SQLite file, or a fresh
PostgreSQL schema), the services, a loopback fake Stripe, and a user and an admin with real API keys.
"""

from __future__ import annotations

import asyncio
import secrets
import threading
from pathlib import Path

import uvicorn
from sqlalchemy import text

from smarthub_mcp.app import build_app
from smarthub_mcp.compose import build_services
from smarthub_mcp.config import load_config
from smarthub_mcp.db import Database
from smarthub_mcp.migrations import upgrade
from tests.billing.conftest import PACKAGES_TOML, STRIPE_KEY, WEBHOOK_SECRET
from tests.conftest import QUICK_DEMO_TOML, base_env, free_port
from tests.factories import make_api_key, make_user_with_token
from tests.fakes.stripe_api import FakeStripe

# Generous limits: the fuzz should reach the handlers, not spend its budget on 429s (which are
# documented answers all the same).
_HIGH = '{"requests_per_minute": 100000, "tokens_per_minute": 100000000}'
LIMITS = "{" + ", ".join(f'"{role}": {_HIGH}' for role in ("guest", "user", "manager", "admin")) + "}"


class ThreadedServer:
    def __init__(self, database_url: str, workdir: Path, *, pg_schema: str | None = None) -> None:
        self.database_url, self.workdir, self.pg_schema = database_url, workdir, pg_schema
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.user_key = self.admin_key = ""
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._server: uvicorn.Server | None = None
        self._thread = threading.Thread(target=self._run, name="fuzz-server", daemon=True)

    def __enter__(self) -> ThreadedServer:
        self._thread.start()
        if not self._ready.wait(60) or self._error is not None:
            raise RuntimeError(f"the server did not start: {self._error!r}")
        return self

    def __exit__(self, *exc: object) -> None:
        if self._server is not None:
            self._server.should_exit = True
        self._thread.join(30)

    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as exc:
            self._error = exc
            self._ready.set()

    async def _main(self) -> None:
        admin_db = None
        if self.pg_schema:
            admin_db = Database(self.database_url.partition("?")[0], pool_size=1)
            async with admin_db.engine.begin() as conn:
                await conn.execute(text(f'CREATE SCHEMA "{self.pg_schema}"'))
        try:
            database = Database(self.database_url)
            await upgrade(database)
            await database.close()
            async with FakeStripe(api_key=STRIPE_KEY) as stripe:
                await self._serve(stripe)
        finally:
            if admin_db is not None:
                async with admin_db.engine.begin() as conn:
                    await conn.execute(text(f'DROP SCHEMA "{self.pg_schema}" CASCADE'))
                await admin_db.close()

    async def _serve(self, stripe: FakeStripe) -> None:
        toml = self.workdir / f"fuzz-{secrets.token_hex(3)}.toml"
        toml.write_text(PACKAGES_TOML + QUICK_DEMO_TOML, encoding="utf-8")
        env = base_env(self.database_url, STRIPE_API_KEY=STRIPE_KEY, STRIPE_WEBHOOK_SECRET=WEBHOOK_SECRET,
                       SMARTHUB_PAYMENTS__STRIPE_API_BASE=stripe.url, SMARTHUB_LIMITS__ROLES=LIMITS,
                       SMARTHUB_DATABASE__POOL_SIZE="3", SMARTHUB_AUTH__SIGNUPS_PER_IP_PER_HOUR="100000",
                       SMARTHUB_JOBS__POLL_INTERVAL_SECONDS="0.2")
        services = build_services(load_config(toml, env=env))
        app = build_app(services=services)
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_config=None, access_log=False,
                                lifespan="on")
        self._server = uvicorn.Server(config)
        task = asyncio.create_task(self._server.serve())
        while not self._server.started:
            if task.done():
                task.result()
            await asyncio.sleep(0.01)
        user_id, _ = await make_user_with_token(services)
        self.user_key = await make_api_key(services, user_id)
        admin_id, _ = await make_user_with_token(services, role="admin")
        self.admin_key = await make_api_key(services, admin_id)
        self._ready.set()
        await task


def pg_url_with_schema(pg_database_url: str) -> tuple[str, str]:
    schema = f"t_{secrets.token_hex(6)}"
    return f"{pg_database_url}?search_path={schema}", schema


