"""The clawback rule as bookkeeping: credits taken back = credits x money returned / price, rounded
down, whatever the order of refunds, disputes and reversals and however often each is delivered.

Starter package: 100 credits for 10.00 USD. Every event goes through the real HTTP app, signed.
"""

from __future__ import annotations

import asyncio
from collections import Counter

import httpx
import pytest
from sqlalchemy import text

from smarthub_mcp.credits import MICRO
from smarthub_mcp.services import Services
from tests.billing.conftest import deliver
from tests.billing.test_payment_clawbacks import paid_purchase
from tests.billing.test_payments import balance, payment_row
from tests.fakes.stripe_api import FakeStripe, event


async def send(client: httpx.AsyncClient, payload: str) -> str:
    r = await deliver(client, payload)
    assert r.status_code == 200, r.text
    return r.json()["outcome"]


async def test_refund_and_dispute_in_either_order_then_replays_then_reversals(
    client: httpx.AsyncClient, services: Services, fake_stripe: FakeStripe
):
    # Refund 5.00 -> 50 back; dispute 5.00 -> the other 50; the dispute won -> those 50 return.
    user_id, sid = await paid_purchase(client, services, fake_stripe)
    bought = await balance(services, user_id)
    dispute = fake_stripe.dispute(sid, amount=500, dispute_id="dp_first")
    refund = event("charge.refunded", fake_stripe.charge(sid, amount_refunded=500))
    opened = event("charge.dispute.created", dispute)
    await send(client, refund)
    assert await balance(services, user_id) == bought - 50 * MICRO
    await send(client, opened)
    assert await balance(services, user_id) == bought - 100 * MICRO
    for payload in (refund, opened, refund, opened):
        assert await send(client, payload) == "replay"
    assert await balance(services, user_id) == bought - 100 * MICRO
    won = event("charge.dispute.closed", {**dispute, "status": "won"})
    assert await send(client, won) == "disputed_credits_restored"
    assert await send(client, won) == "replay"
    assert await balance(services, user_id) == bought - 50 * MICRO

    # The other order: dispute 4.00, then refund 6.00 -> all 100; reinstated -> the 40 return.
    user_id, sid = await paid_purchase(client, services, fake_stripe)
    bought = await balance(services, user_id)
    dispute = fake_stripe.dispute(sid, amount=400, dispute_id="dp_second")
    await send(client, event("charge.dispute.created", dispute))
    assert await balance(services, user_id) == bought - 40 * MICRO
    await send(client, event("charge.refunded", fake_stripe.charge(sid, amount_refunded=600)))
    assert await balance(services, user_id) == bought - 100 * MICRO
    # More money back than was paid (a dispute on refunded money) takes nothing more than was bought.
    await send(client, event("charge.dispute.created", fake_stripe.dispute(sid, amount=1000, dispute_id="dp_x")))
    assert await balance(services, user_id) == bought - 100 * MICRO
    await send(client, event("charge.dispute.funds_reinstated", {**dispute, "status": "won"}))
    await send(client, event("charge.dispute.closed", {**dispute, "status": "won"}))
    assert await balance(services, user_id) == bought - 100 * MICRO  # dp_x still holds the rest
    await send(client, event("charge.dispute.closed", fake_stripe.dispute(sid, amount=1000, dispute_id="dp_x",
                                                                          status="won")))
    assert await balance(services, user_id) == bought - 60 * MICRO
    row = await payment_row(services, sid)
    assert (row["amount_refunded_minor"], row["credits_clawed_back"]) == (600, 60 * MICRO)


async def test_rounding_is_down_to_the_micro_credit(
    client: httpx.AsyncClient, services: Services, fake_stripe: FakeStripe
):
    user_id, sid = await paid_purchase(client, services, fake_stripe)
    bought = await balance(services, user_id)
    await send(client, event("charge.refunded", fake_stripe.charge(sid, amount_refunded=1)))  # 0.01 of 10.00
    await send(client, event("charge.dispute.created", fake_stripe.dispute(sid, amount=2)))
    # 100 credits x 3 / 1000 = 0.3 credits exactly; one more cent of 3 makes 0.4.
    assert await balance(services, user_id) == bought - 300_000
    await send(client, event("charge.refunded", fake_stripe.charge(sid, amount_refunded=2)))
    assert await balance(services, user_id) == bought - 400_000


@pytest.mark.parametrize("spent_first", [False, True], ids=["funded", "spent"])
async def test_every_event_twenty_times_at_once_ends_exact(
    client: httpx.AsyncClient, services: Services, fake_stripe: FakeStripe, spent_first: bool
):
    """Two refunds (2.00, then 4.00 cumulative), a 5.00 dispute opened and reinstated, a 3.00 dispute
    opened and lost: each event delivered 20 times concurrently, all 120 deliveries at once. Money
    back at the end: 4.00 + 3.00 = 7.00 of 10.00, so 70 credits, however the deliveries interleave."""
    user_id, sid = await paid_purchase(client, services, fake_stripe)
    if spent_first:  # the buyer spent everything: the clawback goes negative and is recorded as a shortfall
        await services.ledger.debit(user_id, await balance(services, user_id), kind="usage", idempotency_key="spend")
    start = await balance(services, user_id)
    reinstated = fake_stripe.dispute(sid, amount=500, dispute_id="dp_race_reinstated")
    lost = fake_stripe.dispute(sid, amount=300, dispute_id="dp_race_lost")
    events = [
        event("charge.refunded", fake_stripe.charge(sid, amount_refunded=200)),
        event("charge.refunded", fake_stripe.charge(sid, amount_refunded=400)),
        event("charge.dispute.created", reinstated),
        event("charge.dispute.funds_reinstated", {**reinstated, "status": "won"}),
        event("charge.dispute.created", lost),
        event("charge.dispute.closed", {**lost, "status": "lost"}),
    ]
    deliveries = [payload for _ in range(20) for payload in events]
    responses = await asyncio.gather(*(deliver(client, payload) for payload in deliveries))
    assert [r.status_code for r in responses] == [200] * len(deliveries), {r.text for r in responses}
    # Each event was processed exactly once; every other delivery of it was a replay.
    firsts = Counter(r.json()["event_id"] for r in responses if r.json()["outcome"] != "replay")
    assert sorted(firsts.values()) == [1] * len(events)

    assert await balance(services, user_id) == start - 70 * MICRO
    row = await payment_row(services, sid)
    assert row["credits_clawed_back"] == 70 * MICRO
    assert row["clawback_shortfall"] == (70 * MICRO if spent_first else 0)
    async with services.db.read() as conn:
        moved = (await conn.execute(
            text("SELECT COUNT(*), COALESCE(SUM(amount), 0) FROM ledger_entries"
                 " WHERE idempotency_key LIKE 'stripe-clawback:%' OR idempotency_key LIKE 'stripe-restore:%'"),
        )).one()
    assert moved[1] == -70 * MICRO and moved[0] <= len(events)  # at most one entry per event
