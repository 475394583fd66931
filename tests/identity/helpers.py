"""Test helpers for identity suites: an app with its own config, and its client; an SMTP sink."""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator
from email import message_from_bytes, policy

import httpx

from smarthub_mcp.app import build_app
from smarthub_mcp.compose import build_services
from smarthub_mcp.config import AppConfig
from smarthub_mcp.services import Services
from tests.conftest import running_app


@contextlib.asynccontextmanager
async def app_client(config: AppConfig, services: Services | None = None) -> AsyncIterator[httpx.AsyncClient]:
    services = services or build_services(config)
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


class Sink:
    """An aiosmtpd handler that collects messages; `next()` waits (bounded) for the next one."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue = asyncio.Queue()
        self.loop = asyncio.get_running_loop()

    async def handle_DATA(self, server, session, envelope):
        msg = message_from_bytes(envelope.content, policy=policy.default)
        self.loop.call_soon_threadsafe(self.queue.put_nowait, msg)
        return "250 OK"

    async def next(self):
        return await asyncio.wait_for(self.queue.get(), 10)


def token_in(msg) -> str:
    """The token of the link in an emailed message (still percent-encoded, as in the link)."""
    return re.search(r"\?token=([A-Za-z0-9_\-%]+)", msg.get_content()).group(1)
