"""Jobs on both databases: services whose media store is a temporary directory, customers, and an
app served on a known port for provider webhooks."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from smarthub_mcp.app import build_app
from smarthub_mcp.compose import build_services
from smarthub_mcp.config import AppConfig
from smarthub_mcp.credits import MICRO
from smarthub_mcp.identity.principal import Principal
from smarthub_mcp.media.local import LocalStorage
from smarthub_mcp.media.signing import UrlSigner
from smarthub_mcp.services import Services
from tests.conftest import LiveServer
from tests.factories import make_user


@pytest.fixture
def config(make_config: Callable[..., AppConfig]) -> AppConfig:
    """Small pools: PostgreSQL's 100 connections are shared by every test session on the machine."""
    return make_config(SMARTHUB_DATABASE__POOL_SIZE="4")


@pytest.fixture
async def services(config: AppConfig, db, tmp_path: Path) -> AsyncIterator[Services]:
    storage = LocalStorage(tmp_path / "media", signer=UrlSigner(lambda: b"k" * 32),
                           public_base_url="http://testserver")
    services = build_services(config, storage=storage)
    try:
        yield services
    finally:  # the app's lifespan closes them too when a test served them; closing twice is harmless
        await services.jobs.aclose()
        await services.db.close()


async def customer(services: Services, credits: int = 10, *, permissions: frozenset[str] | None = None) -> Principal:
    """A user with an account, `credits` bought, and (by default) the image permission."""
    user = await make_user(services.db)
    async with services.db.write() as conn:
        for hook in services.user_created_hooks:
            await hook(conn, user)
    if credits:
        await services.ledger.grant(user, credits * MICRO, kind="purchase", idempotency_key=f"buy:{user}")
    perms = permissions if permissions is not None else frozenset({"tools:image", "tools:video", "tools:chat"})
    return Principal(user, "u@example.com", "user", perms, "jwt", email_verified=True)


@contextlib.asynccontextmanager
async def served_for_webhooks(make_config: Callable[..., AppConfig], toml: Callable[[str], str], media: Path,
                              **env: str) -> AsyncIterator[tuple[str, Services]]:
    """The app on a loopback port with `[server] public_base_url` naming it (a provider posts to the
    job URLs made from it): `toml(url)` is the config for that URL. Yields `(url, services)`."""
    real: dict[str, Any] = {}

    async def app(scope: Any, receive: Any, send: Any) -> None:  # the port must be known to build the app
        await real["app"](scope, receive, send)

    server = LiveServer(app)
    services = build_services(make_config(toml=toml(server.url), **env), storage=LocalStorage(
        media, signer=UrlSigner(lambda: b"k" * 32), public_base_url=server.url))
    real["app"] = build_app(services=services)
    try:
        async with server:
            yield server.url, services
    finally:
        await services.router.aclose()
