"""Settling a stuck job from the admin's jobs queue, on both databases. No job workers run here:
the job stays exactly as the test leaves it (a worker would reconcile an unknown job on its own)."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from smarthub_mcp.config import AppConfig
from smarthub_mcp.services import Services
from tests.dashboard.helpers import make_person, post_form, sign_in
from tests.jobs.conftest import customer
from tests.jobs.test_admin_jobs import stuck_job


@pytest.fixture
def config(make_config: Callable[..., AppConfig]) -> AppConfig:
    return make_config(SMARTHUB_DATABASE__POOL_SIZE="4", SMARTHUB_JOBS__WORKERS="false")


async def test_an_admin_settles_a_stuck_job_once(client: httpx.AsyncClient, services: Services):
    owner = await customer(services)
    job_id = await stuck_job(services, owner)
    assert (await services.ledger.balance(owner.user_id)).held > 0
    _, email = await make_person(services, role="admin")
    await sign_in(client, email)
    queue = await client.get("/dashboard/admin/jobs")
    assert f'action="/dashboard/admin/jobs/{job_id}/settle"' in queue.text
    fields = {"action": "release", "credits": "", "reason": "provider confirmed it never ran"}
    r = await post_form(client, f"/dashboard/admin/jobs/{job_id}/settle", fields, page="/dashboard/admin/jobs")
    assert r.status_code == 200 and f"Job {job_id} settled (release)." in r.text
    assert (await services.ledger.balance(owner.user_id)).held == 0
    again = await post_form(client, f"/dashboard/admin/jobs/{job_id}/settle", fields, page="/dashboard/admin/jobs")
    assert again.status_code == 409 and "conflict" in again.text
