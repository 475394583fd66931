"""Buying credits end to end: the API, the real Stripe SDK against the loopback fake, signed webhooks."""

from __future__ import annotations

import asyncio
import time

import httpx
from sqlalchemy import text

from smarthub_mcp.compose import build_services
from smarthub_mcp.credits import MICRO
from smarthub_mcp.services import Services
from tests.billing.conftest import PACKAGES_TOML, deliver, signed
from tests.factories import bearer, make_user_with_token
from tests.fakes.stripe_api import FakeStripe, event


async def buy(client: httpx.AsyncClient, token: str, package_id: str = "starter") -> dict:
    r = await client.post("/api/v1/credits/purchase", json={"package_id": package_id}, headers=bearer(token))
    assert r.status_code == 201, r.text
    return r.json()


async def balance(services: Services, user_id: str) -> int:
    return (await services.ledger.balance(user_id)).balance


async def payment_row(services: Services, session_id: str) -> dict:
    async with services.db.read() as conn:
        row = (await conn.execute(text("SELECT * FROM payments WHERE stripe_session_id = :s"),
                                  {"s": session_id})).one()
    return dict(row._mapping)


async def test_packages_are_listed(client: httpx.AsyncClient):
    r = await client.get("/api/v1/credits/packages")
    assert r.status_code == 200
    got = {p["id"]: p for p in r.json()["packages"]}
    assert got["starter"]["credits"] == "100.000000" and got["starter"]["price_minor"] == 1000
    assert got["pro"]["currency"] == "eur"


async def test_purchase_creates_a_checkout_session_and_a_pending_payment(
    client: httpx.AsyncClient, services: Services, fake_stripe: FakeStripe
):
    user_id, token = await make_user_with_token(services)
    start = await balance(services, user_id)
    body = await buy(client, token)
    assert body["checkout_url"] == f"https://checkout.stripe.com/c/pay/{body['session_id']}"
    sent = fake_stripe.requests[-1]
    assert sent["params"]["mode"] == "payment"
    assert sent["params"]["client_reference_id"] == user_id
    assert sent["params"]["metadata"]["package_id"] == "starter"
    assert sent["params"]["metadata"]["payment_id"] == body["payment_id"]
    assert sent["params"]["success_url"].endswith("session_id={CHECKOUT_SESSION_ID}")
    assert sent["headers"]["idempotency-key"]
    row = await payment_row(services, body["session_id"])
    assert (row["status"], row["amount_minor"], row["currency"]) == ("pending", 1000, "usd")
    assert row["credits"] == 100 * MICRO
    assert await balance(services, user_id) == start


async def test_purchase_refuses_unknown_package_and_anonymous(client: httpx.AsyncClient, services: Services):
    _, token = await make_user_with_token(services)
    r = await client.post("/api/v1/credits/purchase", json={"package_id": "nope"}, headers=bearer(token))
    assert r.status_code == 404 and r.json()["error"]["code"] == "unknown_package"
    r = await client.post("/api/v1/credits/purchase", json={"package_id": "starter"})
    assert r.status_code == 401


async def test_completed_event_delivered_ten_times_concurrently_credits_once(
    client: httpx.AsyncClient, services: Services, fake_stripe: FakeStripe
):
    user_id, token = await make_user_with_token(services)
    start = await balance(services, user_id)
    sid = (await buy(client, token))["session_id"]
    payload = event("checkout.session.completed", fake_stripe.complete(sid))
    responses = await asyncio.wait_for(asyncio.gather(*(deliver(client, payload) for _ in range(10))), 30)
    assert [r.status_code for r in responses] == [200] * 10
    outcomes = sorted(r.json()["outcome"] for r in responses)
    assert outcomes == ["credited"] + ["replay"] * 9
    assert await balance(services, user_id) == start + 100 * MICRO
    # A late, separate redelivery (new event id, same session) changes nothing either.
    again = await deliver(client, event("checkout.session.completed", fake_stripe.complete(sid)))
    assert again.status_code == 200 and again.json()["outcome"] == "already_paid"
    assert await balance(services, user_id) == start + 100 * MICRO
    row = await payment_row(services, sid)
    assert row["status"] == "paid" and row["paid_at"] is not None
    async with services.db.read() as conn:
        n = (await conn.execute(text("SELECT COUNT(*) FROM ledger_entries WHERE reference = :p AND kind = 'purchase'"),
                                {"p": row["id"]})).scalar()
        mail = (await conn.execute(text("SELECT subject FROM email_outbox WHERE subject LIKE '%credits%'"))).all()
    assert n == 1
    assert len(mail) == 1  # the purchase confirmation, once


async def test_bad_signatures_and_wrong_amounts_are_refused_and_credit_nothing(
    client: httpx.AsyncClient, services: Services, fake_stripe: FakeStripe
):
    user_id, token = await make_user_with_token(services)
    start = await balance(services, user_id)
    sid = (await buy(client, token))["session_id"]
    payload = event("checkout.session.completed", fake_stripe.complete(sid))
    url = "/api/v1/payments/stripe/webhook"
    forged = await client.post(url, content=payload, headers=signed(payload, secret="whsec_forged"))
    stale = await client.post(url, content=payload, headers=signed(payload, timestamp=int(time.time()) - 400))
    modified = await client.post(url, content=payload.replace('"amount_total": 1000', '"amount_total": 1'),
                                 headers=signed(payload))
    unsigned = await client.post(url, content=payload)
    for r in (forged, stale, modified, unsigned):
        assert r.status_code == 400, r.text
        assert r.json()["error"]["code"] == "invalid_signature"
    # Correctly signed, but the amount is not what the package costs.
    cheap = await deliver(client, event("checkout.session.completed", fake_stripe.complete(sid, amount_total=1)))
    assert cheap.status_code == 400 and cheap.json()["error"]["code"] == "payment_mismatch"
    assert await balance(services, user_id) == start
    # The session is now refused for good: a correct event afterwards does not credit it either.
    late = await deliver(client, payload)
    assert late.status_code == 200 and late.json()["outcome"] == "already_failed"
    assert await balance(services, user_id) == start
    assert (await payment_row(services, sid))["status"] == "failed"


async def test_wrong_currency_is_refused(client: httpx.AsyncClient, services: Services, fake_stripe: FakeStripe):
    user_id, token = await make_user_with_token(services)
    start = await balance(services, user_id)
    sid = (await buy(client, token))["session_id"]
    r = await deliver(client, event("checkout.session.completed", fake_stripe.complete(sid, currency="eur")))
    assert r.status_code == 400 and r.json()["error"]["code"] == "payment_mismatch"
    assert await balance(services, user_id) == start


async def test_delayed_payment_waits_for_async_success(
    client: httpx.AsyncClient, services: Services, fake_stripe: FakeStripe
):
    user_id, token = await make_user_with_token(services)
    start = await balance(services, user_id)
    sid = (await buy(client, token, "pro"))["session_id"]
    r = await deliver(client, event("checkout.session.completed", fake_stripe.complete(sid, paid=False)))
    assert r.json()["outcome"] == "awaiting_payment"
    assert await balance(services, user_id) == start
    r = await deliver(client, event("checkout.session.async_payment_succeeded", fake_stripe.complete(sid)))
    assert r.json()["outcome"] == "credited"
    assert await balance(services, user_id) == start + 1200 * MICRO


async def test_async_failure_and_unknown_sessions_are_stored_not_credited(
    client: httpx.AsyncClient, services: Services, fake_stripe: FakeStripe
):
    user_id, token = await make_user_with_token(services)
    start = await balance(services, user_id)
    sid = (await buy(client, token))["session_id"]
    r = await deliver(client, event("checkout.session.async_payment_failed", fake_stripe.complete(sid, paid=False)))
    assert r.json()["outcome"] == "failed"
    r = await deliver(client, event("checkout.session.async_payment_succeeded", fake_stripe.complete(sid)))
    assert r.json()["outcome"] == "already_failed"
    stranger = {**fake_stripe.complete(sid), "id": "cs_test_unknown", "metadata": {}}
    r = await deliver(client, event("checkout.session.completed", stranger, event_id="evt_unknown"))
    assert r.status_code == 200 and r.json()["outcome"] == "unknown_session"
    r = await deliver(client, event("some.future.event", {"id": "x"}))
    assert r.status_code == 200 and r.json()["outcome"] == "ignored"
    assert await balance(services, user_id) == start
    async with services.db.read() as conn:
        stored = (await conn.execute(text("SELECT outcome FROM stripe_events WHERE id = 'evt_unknown'"))).scalar()
    assert stored == "unknown_session"


async def test_missing_stripe_key_answers_503(make_config, db):
    from smarthub_mcp.app import build_app
    from tests.conftest import running_app

    services = build_services(make_config(toml=PACKAGES_TOML))  # packages, but no Stripe secrets
    app = build_app(services=services)
    async with running_app(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as c:
            _, token = await make_user_with_token(services)
            r = await c.post("/api/v1/credits/purchase", json={"package_id": "starter"}, headers=bearer(token))
            assert r.status_code == 503 and r.json()["error"]["code"] == "payments_unavailable"
            payload = event("checkout.session.completed", {"id": "cs_x"})
            r = await c.post("/api/v1/payments/stripe/webhook", content=payload, headers=signed(payload))
            assert r.status_code == 503 and r.json()["error"]["code"] == "payments_unavailable"
