"""Refunds and disputes take back exactly the refunded share; the admin views and the report show it."""

from __future__ import annotations

import httpx
from sqlalchemy import text

from smarthub_mcp.credits import MICRO
from smarthub_mcp.services import Services
from tests.billing.conftest import deliver
from tests.billing.test_payments import balance, buy, payment_row
from tests.factories import bearer, make_user_with_token
from tests.fakes.stripe_api import FakeStripe, event


async def paid_purchase(client: httpx.AsyncClient, services: Services, fake: FakeStripe, package: str = "starter"):
    user_id, token = await make_user_with_token(services)
    sid = (await buy(client, token, package))["session_id"]
    r = await deliver(client, event("checkout.session.completed", fake.complete(sid)))
    assert r.json()["outcome"] == "credited"
    return user_id, sid


async def test_partial_then_full_refund_claws_back_exactly_the_refunded_share(
    client: httpx.AsyncClient, services: Services, fake_stripe: FakeStripe
):
    user_id, sid = await paid_purchase(client, services, fake_stripe)  # 100 credits for 10.00 USD
    after_purchase = await balance(services, user_id)
    r = await deliver(client, event("charge.refunded", fake_stripe.charge(sid, amount_refunded=250)))
    assert r.json()["outcome"] == "clawed_back"
    assert await balance(services, user_id) == after_purchase - 25 * MICRO
    # The same refund state again (Stripe resends, or a new event for the same state): nothing more.
    r = await deliver(client, event("charge.refunded", fake_stripe.charge(sid, amount_refunded=250)))
    assert r.json()["outcome"] == "clawback_none"
    r = await deliver(client, event("charge.refunded", fake_stripe.charge(sid, amount_refunded=1000)))
    assert await balance(services, user_id) == after_purchase - 100 * MICRO
    # An older, smaller refund event arriving late never gives credits back.
    r = await deliver(client, event("charge.refunded", fake_stripe.charge(sid, amount_refunded=250)))
    assert r.json()["outcome"] == "clawback_none"
    assert await balance(services, user_id) == after_purchase - 100 * MICRO
    row = await payment_row(services, sid)
    assert (row["status"], row["amount_refunded_minor"], row["credits_clawed_back"]) == ("refunded", 1000, 100 * MICRO)


async def test_refund_of_spent_credits_goes_negative_and_is_reported(
    client: httpx.AsyncClient, services: Services, fake_stripe: FakeStripe
):
    user_id, sid = await paid_purchase(client, services, fake_stripe)
    held = await balance(services, user_id)
    spent = held - 10 * MICRO  # the user spends all but 10 credits
    await services.ledger.debit(user_id, spent, kind="usage", idempotency_key="spend-1")
    r = await deliver(client, event("charge.refunded", fake_stripe.charge(sid, amount_refunded=1000)))
    assert r.json()["outcome"] == "clawed_back_negative_balance"
    assert await balance(services, user_id) == 10 * MICRO - 100 * MICRO
    row = await payment_row(services, sid)
    assert row["clawback_shortfall"] == 90 * MICRO


async def test_dispute_flags_the_user_and_claws_back(
    client: httpx.AsyncClient, services: Services, fake_stripe: FakeStripe
):
    user_id, sid = await paid_purchase(client, services, fake_stripe, "pro")  # 1200 credits for 100.00 EUR
    after_purchase = await balance(services, user_id)
    r = await deliver(client, event("charge.dispute.created", fake_stripe.dispute(sid, amount=5000)))
    assert r.json()["outcome"] == "disputed_clawed_back"
    assert await balance(services, user_id) == after_purchase - 600 * MICRO
    # A refund of the other half on top of the dispute: the buyer has all the money back.
    r = await deliver(client, event("charge.refunded", fake_stripe.charge(sid, amount_refunded=5000)))
    assert r.json()["outcome"] == "clawed_back"
    assert await balance(services, user_id) == after_purchase - 1200 * MICRO
    row = await payment_row(services, sid)
    assert row["status"] == "disputed"
    async with services.db.read() as conn:
        flags = (await conn.execute(text("SELECT user_id FROM payment_flags"))).scalars().all()
    assert flags == [user_id]


async def test_refund_for_a_payment_not_yet_known_is_stored_not_crashed(
    client: httpx.AsyncClient, services: Services, fake_stripe: FakeStripe
):
    user_id, token = await make_user_with_token(services)
    start = await balance(services, user_id)
    sid = (await buy(client, token))["session_id"]
    completed = event("checkout.session.completed", fake_stripe.complete(sid))
    # Out of order: the session's payment intent becomes known from the completed event only, so
    # the refund for it is unknown now and stored; the completed event then credits normally...
    r = await deliver(client, event("charge.refunded", fake_stripe.charge(sid, amount_refunded=1000)))
    assert r.status_code == 200 and r.json()["outcome"] == "unknown_payment"
    r = await deliver(client, completed)
    assert r.json()["outcome"] == "credited"
    assert await balance(services, user_id) == start + 100 * MICRO


async def test_admin_lists_payments_and_the_report_shows_refunds(
    client: httpx.AsyncClient, services: Services, fake_stripe: FakeStripe
):
    _, admin = await make_user_with_token(services, role="admin")
    _, plain = await make_user_with_token(services)
    user_id, sid = await paid_purchase(client, services, fake_stripe)
    await paid_purchase(client, services, fake_stripe, "pro")
    await deliver(client, event("charge.refunded", fake_stripe.charge(sid, amount_refunded=400)))
    r = await client.get("/api/v1/admin/payments", headers=bearer(plain))
    assert r.status_code == 403
    r = await client.get("/api/v1/admin/payments", params={"user_id": user_id}, headers=bearer(admin))
    assert r.status_code == 200
    [p] = r.json()["payments"]
    assert (p["status"], p["amount_refunded_minor"], p["credits_clawed_back"]) == ("partially_refunded", 400,
                                                                                   "40.000000")
    r = await client.get("/api/v1/admin/payments", params={"status": "paid", "limit": 1}, headers=bearer(admin))
    assert [p["package_id"] for p in r.json()["payments"]] == ["pro"]
    r = await client.get("/api/v1/admin/payments", params={"status": "bogus"}, headers=bearer(admin))
    assert r.status_code == 400
    r = await client.get("/api/v1/admin/payments", params={"since": "2999-01-01T00:00:00Z"}, headers=bearer(admin))
    assert r.json()["payments"] == []
    r = await client.get("/api/v1/admin/payments/summary", headers=bearer(admin))
    by = {c["currency"]: c for c in r.json()["currencies"]}
    assert by["usd"]["gross_minor"] == 1000 and by["usd"]["refunded_minor"] == 400 and by["usd"]["net_minor"] == 600
    assert by["usd"]["credits_clawed_back"] == "40.000000"
    assert by["eur"]["credits_sold"] == "1200.000000"


async def test_credit_report_shows_clawbacks_and_shortfalls(
    client: httpx.AsyncClient, services: Services, fake_stripe: FakeStripe
):
    _, admin = await make_user_with_token(services, role="admin")
    user_id, sid = await paid_purchase(client, services, fake_stripe)
    await services.ledger.debit(user_id, (await balance(services, user_id)) - 20 * MICRO, kind="usage",
                                idempotency_key="spend-all")
    await deliver(client, event("charge.dispute.created", fake_stripe.dispute(sid, amount=500)))  # 50 credits
    r = await client.get("/api/v1/admin/credits/report", headers=bearer(admin))
    assert r.status_code == 200, r.text
    rows = [row for row in r.json()["rows"] if row["type"] in ("clawback", "shortfall")]
    assert [(row["type"], row["kind"], row["amount"]) for row in rows] == [
        ("clawback", "dispute", "-50.000000"),
        ("shortfall", "spent_before_clawback", "30.000000"),
    ]
