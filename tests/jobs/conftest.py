"""Jobs on both databases: services whose media store is a temporary directory, and customers."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from smarthub_mcp.compose import build_services
from smarthub_mcp.config import AppConfig
from smarthub_mcp.credits import MICRO
from smarthub_mcp.identity.principal import Principal
from smarthub_mcp.media.local import LocalStorage
from smarthub_mcp.media.signing import UrlSigner
from smarthub_mcp.services import Services
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
