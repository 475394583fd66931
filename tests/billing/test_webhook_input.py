"""Signed Stripe deliveries that are not events we can take: each a clean 400, one log line, no
traceback, nothing stored that the database cannot hold, nothing credited."""

from __future__ import annotations

import logging
import time

import httpx
import pytest
from sqlalchemy import text

from smarthub_mcp.services import Services
from tests.billing.conftest import deliver, signed
from tests.billing.test_payments import balance, buy
from tests.factories import make_user_with_token
from tests.fakes.stripe_api import FakeStripe, event

URL = "/api/v1/payments/stripe/webhook"


async def stored_events(services: Services) -> int:
    async with services.db.read() as conn:
        return (await conn.execute(text("SELECT COUNT(*) FROM stripe_events"))).scalar_one()


async def test_a_timestamp_from_the_future_is_refused(
    client: httpx.AsyncClient, services: Services, fake_stripe: FakeStripe
):
    user_id, token = await make_user_with_token(services)
    start = await balance(services, user_id)
    sid = (await buy(client, token))["session_id"]
    payload = event("checkout.session.completed", fake_stripe.complete(sid))
    ahead = await client.post(URL, content=payload, headers=signed(payload, timestamp=int(time.time()) + 3600))
    assert ahead.status_code == 400 and ahead.json()["error"]["code"] == "invalid_signature"
    assert await balance(services, user_id) == start
    # A few seconds of clock skew is within the tolerance, both ways.
    skewed = await client.post(URL, content=payload, headers=signed(payload, timestamp=int(time.time()) + 5))
    assert skewed.status_code == 200 and skewed.json()["outcome"] == "credited"


def _nul_type() -> str:
    return event("charge.refunded\u0000", {"id": "ch_1", "object": "charge"})


def _surrogate() -> str:
    return event("charge.refunded", {"id": "ch_1", "object": "charge", "payment_intent": "\ud800"})


def _deep() -> str:
    depth = 100_000
    return '{"id": "evt_deep", "type": "charge.refunded", "data": ' + "[" * depth + "]" * depth + "}"


@pytest.mark.parametrize("make", [_nul_type, _surrogate, _deep], ids=["nul-in-type", "lone-surrogate", "deep"])
async def test_signed_bodies_we_cannot_take_are_a_clean_400(
    client: httpx.AsyncClient, services: Services, make, caplog
):
    payload = make()
    with caplog.at_level(logging.INFO, logger="smarthub"):
        r = await deliver(client, payload)
    assert r.status_code == 400, r.text
    assert r.json()["error"]["code"] == "invalid_webhook_event"
    assert "Traceback" not in r.text
    refused = [rec for rec in caplog.records if "webhook" in rec.name and rec.levelno >= logging.WARNING]
    assert len(refused) == 1 and refused[0].exc_info is None
    assert not any(rec.exc_info for rec in caplog.records)
    assert await stored_events(services) == 0
