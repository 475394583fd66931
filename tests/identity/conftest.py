"""Fixtures shared by the email test modules."""

from __future__ import annotations

import pytest
from aiosmtpd.controller import Controller

from smarthub_mcp.compose import build_services
from tests.conftest import free_port
from tests.identity.helpers import Sink, app_client


@pytest.fixture
async def smtp():
    """A real SMTP sink on a free loopback port: `(sink, port)`."""
    sink = Sink()
    controller = Controller(sink, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        yield sink, controller.port
    finally:
        controller.stop()


@pytest.fixture
async def mail_client(make_config, db, smtp):
    """A client of an app that mails through `smtp` (as `client.sink`), its links on https://hub.example.com."""
    sink, port = smtp
    config = make_config(SMARTHUB_SMTP_HOST="127.0.0.1", SMARTHUB_SMTP_PORT=str(port),
                         SMARTHUB_SERVER__PUBLIC_BASE_URL="https://hub.example.com")
    async with app_client(config) as client:
        client.sink = sink
        yield client


@pytest.fixture
async def closed_port_services(make_config, db):
    """Services whose SMTP port has no listener (yet): `services.secrets.smtp_port` is where a sink may start."""
    port = free_port()
    services = build_services(make_config(SMARTHUB_SMTP_HOST="127.0.0.1", SMARTHUB_SMTP_PORT=str(port),
                                           SMARTHUB_EMAIL__MAX_ATTEMPTS="3"))
    yield services
    await services.db.close()


@pytest.fixture
async def replicas(closed_port_services, make_config):
    """`closed_port_services` and two more replicas on the same database and SMTP port."""
    port = closed_port_services.secrets.smtp_port
    others = [
        build_services(make_config(SMARTHUB_SMTP_HOST="127.0.0.1", SMARTHUB_SMTP_PORT=str(port))) for _ in range(2)
    ]
    yield [closed_port_services, *others]
    for replica in others:
        await replica.db.close()
