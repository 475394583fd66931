"""Fixtures shared by the email test modules."""

from __future__ import annotations

import pytest

from smarthub_mcp.services import Services
from tests.conftest import free_port


@pytest.fixture
async def closed_port_services(make_config, db):
    """Services whose SMTP port has no listener (yet): `services.port` is where a sink may start."""
    port = free_port()
    services = Services.create(make_config(SMARTHUB_SMTP_HOST="127.0.0.1", SMARTHUB_SMTP_PORT=str(port),
                                           SMARTHUB_EMAIL__MAX_ATTEMPTS="3"))
    services.extras["port"] = port
    yield services
    await services.db.close()


@pytest.fixture
async def replicas(closed_port_services, make_config):
    """`closed_port_services` and two more replicas on the same database and SMTP port."""
    port = closed_port_services.extras["port"]
    others = [
        Services.create(make_config(SMARTHUB_SMTP_HOST="127.0.0.1", SMARTHUB_SMTP_PORT=str(port))) for _ in range(2)
    ]
    yield [closed_port_services, *others]
    for replica in others:
        await replica.db.close()
