"""`GET /api/v1/admin/payment-flags`: users flagged by a dispute, created through the real signed webhook."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import text

from smarthub_mcp.services import Services
from tests.billing.conftest import deliver
from tests.billing.test_payment_clawbacks import paid_purchase
from tests.billing.test_payments import payment_row
from tests.factories import bearer, make_user_with_token
from tests.fakes.stripe_api import FakeStripe, event

URL = "/api/v1/admin/payment-flags"


async def disputed(client: httpx.AsyncClient, services: Services, fake: FakeStripe, package: str = "starter"):
    """A paid purchase, then a dispute on it (the webhook flags the buyer); returns (user_id, payment_id)."""
    user_id, sid = await paid_purchase(client, services, fake, package)
    r = await deliver(client, event("charge.dispute.created", fake.dispute(sid)))
    assert r.json()["outcome"].startswith("disputed_"), r.text
    return user_id, (await payment_row(services, sid))["id"]


async def test_admin_sees_the_flag_a_dispute_made(
    client: httpx.AsyncClient, services: Services, fake_stripe: FakeStripe
):
    _, admin = await make_user_with_token(services, role="admin")
    user_id, payment_id = await disputed(client, services, fake_stripe, "pro")  # 100.00 EUR
    # A refund alone does not flag anyone: only disputes do.
    _, refunded_sid = await paid_purchase(client, services, fake_stripe)
    await deliver(client, event("charge.refunded", fake_stripe.charge(refunded_sid, amount_refunded=1000)))
    r = await client.get(URL, headers=bearer(admin))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["next_cursor"] is None
    [flag] = body["flags"]
    assert set(flag) == {"id", "user_id", "email", "payment_id", "reason", "amount_minor", "currency", "created_at"}
    async with services.db.read() as conn:
        email = (await conn.execute(text("SELECT email FROM users WHERE id = :u"), {"u": user_id})).scalar()
    assert flag["id"].startswith("flag_")
    assert (flag["user_id"], flag["email"], flag["payment_id"]) == (user_id, email, payment_id)
    assert (flag["amount_minor"], flag["currency"]) == (10000, "eur")
    assert flag["reason"].startswith("dispute dp_") and flag["reason"].endswith(": fraudulent")
    assert isinstance(flag["created_at"], int) and flag["created_at"] > 0


async def test_pages_newest_first_and_filters_by_user(
    client: httpx.AsyncClient, services: Services, fake_stripe: FakeStripe
):
    _, admin = await make_user_with_token(services, role="admin")
    made = [await disputed(client, services, fake_stripe) for _ in range(3)]
    newest_first = [payment_id for _, payment_id in reversed(made)]
    r = await client.get(URL, params={"limit": 2}, headers=bearer(admin))
    first = r.json()
    assert [f["payment_id"] for f in first["flags"]] == newest_first[:2]
    assert first["next_cursor"] == first["flags"][-1]["id"]
    r = await client.get(URL, params={"limit": 2, "cursor": first["next_cursor"]}, headers=bearer(admin))
    second = r.json()
    assert [f["payment_id"] for f in second["flags"]] == newest_first[2:]
    assert second["next_cursor"] is None
    # Exactly `limit` left: no cursor pointing at an empty page.
    r = await client.get(URL, params={"limit": 3}, headers=bearer(admin))
    assert len(r.json()["flags"]) == 3 and r.json()["next_cursor"] is None

    middle_user = made[1][0]
    r = await client.get(URL, params={"user_id": middle_user}, headers=bearer(admin))
    assert [(f["user_id"], f["payment_id"]) for f in r.json()["flags"]] == [(middle_user, made[1][1])]
    never_flagged, _ = await make_user_with_token(services)
    r = await client.get(URL, params={"user_id": never_flagged}, headers=bearer(admin))
    assert r.status_code == 200 and r.json() == {"flags": [], "next_cursor": None}


async def test_managers_read_users_and_anonymous_callers_do_not(
    client: httpx.AsyncClient, services: Services, fake_stripe: FakeStripe
):
    await disputed(client, services, fake_stripe)
    _, manager = await make_user_with_token(services, role="manager")  # holds payments:read
    _, plain = await make_user_with_token(services)
    r = await client.get(URL, headers=bearer(manager))
    assert r.status_code == 200 and len(r.json()["flags"]) == 1
    r = await client.get(URL, headers=bearer(plain))
    assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden"
    r = await client.get(URL)
    assert r.status_code == 401 and r.json()["error"]["code"] == "unauthenticated"


@pytest.mark.parametrize("params", [
    {"limit": "0"}, {"limit": "201"}, {"limit": "-1"}, {"limit": "ten"}, {"limit": "2.5"},
    {"cursor": "not-an-id"}, {"user_id": "x" * 500}, {"user_id": "usr_'; DROP TABLE users; --"},
])
async def test_bad_query_params_are_400(client: httpx.AsyncClient, services: Services, params: dict):
    _, admin = await make_user_with_token(services, role="admin")
    r = await client.get(URL, params=params, headers=bearer(admin))
    assert r.status_code == 400, r.text
    error = r.json()["error"]
    assert error["code"] == "invalid_request" and error["message"]
    r = await client.get(URL, params={"limit": "200"}, headers=bearer(admin))
    assert r.status_code == 200
