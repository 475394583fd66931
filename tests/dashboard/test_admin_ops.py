"""The remaining admin pages over HTTP on both databases: promo codes, payments, the jobs queue,
providers and their circuits, metrics; each refused to a user."""

from __future__ import annotations

import httpx
import pytest

from smarthub_mcp.services import Services
from tests.dashboard.helpers import make_person, post_form, sign_in
from tests.factories import bearer

PAGES = ["/dashboard/admin/promo", "/dashboard/admin/payments", "/dashboard/admin/jobs",
         "/dashboard/admin/providers", "/dashboard/admin/metrics"]


@pytest.mark.parametrize("path", PAGES)
async def test_a_user_is_refused(client: httpx.AsyncClient, services: Services, path: str):
    _, email = await make_person(services)
    await sign_in(client, email)
    r = await client.get(path)
    assert r.status_code == 403 and "<code>forbidden</code>" in r.text


async def test_an_admin_creates_and_deactivates_a_promo_code(client: httpx.AsyncClient, services: Services):
    _, email = await make_person(services, role="admin")
    await sign_in(client, email)
    r = await post_form(client, "/dashboard/admin/promo", {"code": "SPRING", "credits": "2.5", "description": "",
                                                            "max_redemptions": "10", "new_users_only": ""})
    assert r.status_code == 200 and "Code SPRING created." in r.text and "2.5 credits" in r.text
    bad = await post_form(client, "/dashboard/admin/promo", {"code": "", "credits": "-1", "description": "",
                                                              "max_redemptions": "", "new_users_only": ""})
    assert bad.status_code == 400 and "invalid_request" in bad.text and "credits" in bad.text
    code_id = r.text.split('action="/dashboard/admin/promo/')[1].split("/deactivate")[0]
    off = await post_form(client, f"/dashboard/admin/promo/{code_id}/deactivate", {}, page="/dashboard/admin/promo")
    assert off.status_code == 200 and "Code SPRING deactivated." in off.text


async def test_payments_jobs_providers_and_metrics_pages(client: httpx.AsyncClient, services: Services):
    user_id, _ = await make_person(services)
    token = services.identity.codec.issue(user_id=user_id, role="user").token
    made = await client.post("/api/v1/images", json={"prompt": "a kite", "model": "demo-image"}, headers=bearer(token))
    assert made.status_code == 200
    _, email = await make_person(services, role="admin")
    await sign_in(client, email)
    payments = await client.get("/dashboard/admin/payments")
    assert payments.status_code == 200 and "No payments yet." in payments.text
    assert (await client.get("/dashboard/admin/payments?status=bogus")).status_code == 400
    every = await client.get("/dashboard/admin/jobs?all=true")
    assert every.status_code == 200 and made.json()["job_id"] in every.text
    assert made.json()["job_id"] not in (await client.get("/dashboard/admin/jobs")).text  # settled: not open
    providers = await client.get("/dashboard/admin/providers")
    assert providers.status_code == 200 and "demo-image-1" in providers.text and "closed" in providers.text
    metrics = await client.get("/dashboard/admin/metrics")
    assert metrics.status_code == 200 and "Calls by tool" in metrics.text and "generate_image" in metrics.text

