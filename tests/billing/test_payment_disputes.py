"""Refunds and disputes together: the credits clawed back follow the total money the buyer has back.

Worked examples on the starter package (100 credits for 10.00 USD), through signed webhooks.
"""

from __future__ import annotations

import asyncio

import httpx

from smarthub_mcp.credits import MICRO
from smarthub_mcp.services import Services
from tests.billing.conftest import deliver
from tests.billing.test_payment_clawbacks import paid_purchase
from tests.billing.test_payments import balance, payment_row
from tests.fakes.stripe_api import FakeStripe, event


async def outcome(client: httpx.AsyncClient, type_: str, obj: dict) -> str:
    r = await deliver(client, event(type_, obj))
    assert r.status_code == 200, r.text
    return r.json()["outcome"]


async def test_refund_then_dispute_are_summed(client, services: Services, fake_stripe: FakeStripe):
    user_id, sid = await paid_purchase(client, services, fake_stripe)
    bought = await balance(services, user_id)
    assert await outcome(client, "charge.refunded", fake_stripe.charge(sid, amount_refunded=500)) == "clawed_back"
    assert await balance(services, user_id) == bought - 50 * MICRO
    dispute = fake_stripe.dispute(sid, amount=500)
    assert await outcome(client, "charge.dispute.created", dispute) == "disputed_clawed_back"
    assert await balance(services, user_id) == bought - 100 * MICRO  # all the money back, all the credits


async def test_dispute_then_refund_are_summed(client, services: Services, fake_stripe: FakeStripe):
    user_id, sid = await paid_purchase(client, services, fake_stripe)
    bought = await balance(services, user_id)
    await outcome(client, "charge.dispute.created", fake_stripe.dispute(sid, amount=400))
    assert await balance(services, user_id) == bought - 40 * MICRO
    await outcome(client, "charge.refunded", fake_stripe.charge(sid, amount_refunded=600))
    assert await balance(services, user_id) == bought - 100 * MICRO
    row = await payment_row(services, sid)
    assert row["credits_clawed_back"] == 100 * MICRO


async def test_replays_and_same_state_events_change_nothing(client, services: Services, fake_stripe: FakeStripe):
    user_id, sid = await paid_purchase(client, services, fake_stripe)
    bought = await balance(services, user_id)
    refund = event("charge.refunded", fake_stripe.charge(sid, amount_refunded=300))
    dispute_obj = fake_stripe.dispute(sid, amount=200, dispute_id="dp_same")
    dispute = event("charge.dispute.created", dispute_obj)
    for payload in (refund, dispute):
        assert (await deliver(client, payload)).json()["outcome"] != "replay"
    for payload in (refund, dispute, refund):  # Stripe resends the very same events
        assert (await deliver(client, payload)).json()["outcome"] == "replay"
    # New events for the same facts (the dispute updated, the refund total unchanged) take nothing more.
    assert await outcome(client, "charge.dispute.updated", dispute_obj) == "disputed_clawback_none"
    assert await outcome(client, "charge.refunded", fake_stripe.charge(sid, amount_refunded=300)) == "clawback_none"
    assert await balance(services, user_id) == bought - 50 * MICRO


async def test_a_won_dispute_gives_the_credits_back_and_a_lost_one_keeps_them(
    client, services: Services, fake_stripe: FakeStripe
):
    user_id, sid = await paid_purchase(client, services, fake_stripe)
    bought = await balance(services, user_id)
    won = fake_stripe.dispute(sid, amount=300, dispute_id="dp_won")
    lost = fake_stripe.dispute(sid, amount=200, dispute_id="dp_lost")
    await outcome(client, "charge.dispute.created", won)
    await outcome(client, "charge.dispute.created", lost)
    assert await balance(services, user_id) == bought - 50 * MICRO
    reinstated = {**won, "status": "won"}
    assert await outcome(client, "charge.dispute.funds_reinstated", reinstated) == "disputed_credits_restored"
    assert await outcome(client, "charge.dispute.closed", {**lost, "status": "lost"}) == "disputed_clawback_none"
    assert await balance(services, user_id) == bought - 20 * MICRO
    # A late "created" for the dispute already won changes nothing.
    assert await outcome(client, "charge.dispute.created", won) == "disputed_clawback_none"
    assert await balance(services, user_id) == bought - 20 * MICRO
    row = await payment_row(services, sid)
    assert (row["credits_clawed_back"], row["clawback_shortfall"]) == (20 * MICRO, 0)


async def test_an_inquiry_withdraws_nothing(client, services: Services, fake_stripe: FakeStripe):
    user_id, sid = await paid_purchase(client, services, fake_stripe)
    bought = await balance(services, user_id)
    inquiry = fake_stripe.dispute(sid, status="warning_needs_response")
    assert await outcome(client, "charge.dispute.created", inquiry) == "disputed_clawback_none"
    assert await balance(services, user_id) == bought


async def test_restored_credits_first_cover_the_shortfall(client, services: Services, fake_stripe: FakeStripe):
    user_id, sid = await paid_purchase(client, services, fake_stripe)
    await services.ledger.debit(user_id, await balance(services, user_id), kind="usage", idempotency_key="spend")
    dispute = fake_stripe.dispute(sid, amount=1000, dispute_id="dp_all")
    assert await outcome(client, "charge.dispute.created", dispute) == "disputed_clawed_back_negative_balance"
    assert await balance(services, user_id) == -100 * MICRO
    await outcome(client, "charge.dispute.closed", {**dispute, "status": "won"})
    assert await balance(services, user_id) == 0
    row = await payment_row(services, sid)
    assert (row["credits_clawed_back"], row["clawback_shortfall"]) == (0, 0)


async def test_concurrent_deliveries_in_any_order_end_exact(client, services: Services, fake_stripe: FakeStripe):
    """Refunds, a dispute opened then won, and a lost one, each delivered 8 times at once (new event
    ids and resends mixed): the end state is the same whatever order they land in."""
    user_id, sid = await paid_purchase(client, services, fake_stripe)
    bought = await balance(services, user_id)
    won = fake_stripe.dispute(sid, amount=250, dispute_id="dp_race_won")
    lost = fake_stripe.dispute(sid, amount=150, dispute_id="dp_race_lost")
    facts = [
        ("charge.refunded", fake_stripe.charge(sid, amount_refunded=200)),
        ("charge.refunded", fake_stripe.charge(sid, amount_refunded=350)),
        ("charge.dispute.created", won),
        ("charge.dispute.funds_reinstated", {**won, "status": "won"}),
        ("charge.dispute.created", lost),
        ("charge.dispute.closed", {**lost, "status": "lost"}),
    ]
    payloads = [event(t, obj) for t, obj in facts for _ in range(4)]
    payloads += payloads[::3]  # resends of the very same events
    responses = await asyncio.gather(*(deliver(client, p) for p in payloads))
    assert {r.status_code for r in responses} == {200}
    # Money back: refunds 3.50 (cumulative) + the lost dispute 1.50 = 5.00 of 10.00 -> 50 credits.
    assert await balance(services, user_id) == bought - 50 * MICRO
    row = await payment_row(services, sid)
    assert row["credits_clawed_back"] == 50 * MICRO
