"""The admin pages over HTTP on both databases: users, adjusting credits with its audit entry,
the report; a user (or a manager where admin rights are needed) is refused with a stable code."""

from __future__ import annotations

import re

import httpx
import pytest

from smarthub_mcp.credits import MICRO
from smarthub_mcp.services import Services
from tests.dashboard.helpers import make_person, post_form, sign_in

ADMIN_PAGES = ["/dashboard/admin", "/dashboard/admin/users", "/dashboard/admin/audit", "/dashboard/admin/report",
               "/dashboard/admin/report.csv"]


def adjust_key(html: str, user_id: str) -> str:
    found = re.search(rf'name="key" value="([^"]+-{user_id})"', html)
    assert found, html[:1000]
    return found.group(1)


@pytest.mark.parametrize("path", ADMIN_PAGES)
async def test_a_user_cannot_open_an_admin_page(client: httpx.AsyncClient, services: Services, path: str):
    _, email = await make_person(services)
    await sign_in(client, email)
    r = await client.get(path)
    assert r.status_code == 403 and "<code>forbidden</code>" in r.text
    assert "/dashboard/admin" not in (await client.get("/dashboard")).text  # no Admin link either


async def test_a_user_cannot_post_to_an_admin_form(client: httpx.AsyncClient, services: Services):
    user_id, email = await make_person(services)
    await sign_in(client, email)
    before = (await services.ledger.balance(user_id)).balance
    r = await post_form(client, f"/dashboard/admin/users/{user_id}/adjust",
                        {"amount": "1000", "reason": "free money", "key": "k1"}, page="/dashboard")
    assert r.status_code == 403 and "forbidden" in r.text
    r = await post_form(client, f"/dashboard/admin/users/{user_id}", {"role": "admin", "status": ""},
                        page="/dashboard")
    assert r.status_code == 403
    assert (await services.ledger.balance(user_id)).balance == before


async def test_an_admin_adjusts_credits_once_and_sees_the_audit_entry(client: httpx.AsyncClient,
                                                                      services: Services):
    _, admin_email = await make_person(services, role="admin")
    user_id, email = await make_person(services)
    await sign_in(client, admin_email)
    found = await client.get(f"/dashboard/admin/users?q={email}")
    assert found.status_code == 200 and email in found.text and found.text.count("<section") == 1
    before = (await services.ledger.balance(user_id)).balance
    fields = {"amount": "12.5", "reason": "support ticket 42", "key": adjust_key(found.text, user_id)}
    r = await post_form(client, f"/dashboard/admin/users/{user_id}/adjust", fields, page="/dashboard/admin/users")
    assert r.status_code == 200 and "Adjusted by 12.5 credits" in r.text
    again = await post_form(client, f"/dashboard/admin/users/{user_id}/adjust", fields, page="/dashboard/admin/users")
    assert again.status_code == 200  # the same form sent twice is one adjustment
    assert (await services.ledger.balance(user_id)).balance == before + 12_500_000
    audit = await client.get("/dashboard/admin/audit")
    assert audit.status_code == 200
    assert audit.text.count("support ticket 42") == 1 and "credits.adjust" in audit.text and user_id in audit.text
    bad = await post_form(client, f"/dashboard/admin/users/{user_id}/adjust",
                          {"amount": "lots", "reason": "x", "key": "k2"}, page="/dashboard/admin/users")
    assert bad.status_code == 400 and "invalid_request" in bad.text


async def test_an_admin_changes_a_role_and_disables_a_user_whose_session_ends(app, client: httpx.AsyncClient,
                                                                              services: Services):
    admin_id, admin_email = await make_person(services, role="admin")
    user_id, email = await make_person(services)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1") as user:
        await sign_in(user, email)
        await sign_in(client, admin_email)
        r = await post_form(client, f"/dashboard/admin/users/{user_id}", {"role": "manager", "status": "active"},
                            page="/dashboard/admin/users")
        assert r.status_code == 200 and f"{email}: role manager, active." in r.text
        r = await post_form(client, f"/dashboard/admin/users/{user_id}", {"role": "manager", "status": "disabled"},
                            page="/dashboard/admin/users")
        assert r.status_code == 200 and "disabled" in r.text
        assert (await user.get("/dashboard")).status_code == 303  # signed out
    me = await post_form(client, f"/dashboard/admin/users/{admin_id}", {"role": "user", "status": "active"},
                         page="/dashboard/admin/users")
    assert me.status_code == 409 and "conflict" in me.text


async def test_the_report_draws_spend_and_grants_and_downloads_as_csv(client: httpx.AsyncClient,
                                                                      services: Services):
    _, admin_email = await make_person(services, role="admin")
    user_id, _ = await make_person(services)
    await services.ledger.grant(user_id, 3 * MICRO, kind="grant", idempotency_key="g1")
    await sign_in(client, admin_email)
    r = await client.get("/dashboard/admin/report")
    assert r.status_code == 200 and r.text.count('class="bar"') == 60
    csv = await client.get("/dashboard/admin/report.csv")
    assert csv.status_code == 200 and csv.headers["content-type"].startswith("text/csv")
    assert csv.text.splitlines()[0] == "type,email,model,kind,day,count,amount"
