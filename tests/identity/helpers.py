"""Test helpers for identity suites: an app with its own config, and its client."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import httpx

from smarthub_mcp.app import build_app
from smarthub_mcp.config import AppConfig
from smarthub_mcp.services import Services
from tests.conftest import running_app


@contextlib.asynccontextmanager
async def app_client(config: AppConfig, services: Services | None = None) -> AsyncIterator[httpx.AsyncClient]:
    services = services or Services.create(config)
    app = build_app(services=services)
    async with running_app(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
            client.services = services  # type: ignore[attr-defined]
            client.app = app  # type: ignore[attr-defined]
            yield client


def client_from(app: object, ip: str) -> httpx.AsyncClient:
    """Another client of a running app, calling from `ip`."""
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app, client=(ip, 40000)), base_url="http://127.0.0.1")
