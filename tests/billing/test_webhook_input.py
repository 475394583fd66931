"""Signed Stripe deliveries that are not events we can take: each a clean 400 with a stable code,
one log line (no traceback, nothing of the body), nothing stored, nothing credited or clawed back."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable

import httpx
import pytest
from sqlalchemy import text

from smarthub_mcp.services import Services
from tests.billing.conftest import deliver, signed
from tests.billing.test_payment_clawbacks import paid_purchase
from tests.billing.test_payments import balance, buy
from tests.factories import make_user_with_token
from tests.fakes.stripe_api import FakeStripe, event

URL = "/api/v1/payments/stripe/webhook"
MARK = "BODYMARK"  # in every bad body: it must reach neither a log line nor the answer


async def stored_events(services: Services) -> int:
    async with services.db.read() as conn:
        return (await conn.execute(text("SELECT COUNT(*) FROM stripe_events"))).scalar_one()


def refusals(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [rec for rec in caplog.records if "webhook" in rec.name and rec.levelno >= logging.WARNING]


def assert_logged_once_cleanly(caplog: pytest.LogCaptureFixture) -> None:
    assert len(refusals(caplog)) == 1, [rec.getMessage() for rec in caplog.records]
    assert not any(rec.exc_info for rec in caplog.records)
    assert not any(MARK in rec.getMessage() for rec in caplog.records)


async def test_a_timestamp_beyond_the_tolerance_is_refused_both_ways(
    client: httpx.AsyncClient, services: Services, fake_stripe: FakeStripe, caplog: pytest.LogCaptureFixture
):
    user_id, token = await make_user_with_token(services)
    start = await balance(services, user_id)
    sid = (await buy(client, token))["session_id"]
    payload = event("checkout.session.completed", {**fake_stripe.complete(sid), "note": MARK})
    now = int(time.time())
    # Just past the 300 s tolerance: in the past that stays true however slowly the test runs; in the
    # future a minute of margin keeps it past the tolerance on a loaded machine.
    for timestamp in (now + 3600, now + 360, now - 301):
        with caplog.at_level(logging.INFO, logger="smarthub"):
            caplog.clear()
            r = await client.post(URL, content=payload, headers=signed(payload, timestamp=timestamp))
        assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_signature", timestamp
        assert_logged_once_cleanly(caplog)
    # The SDK reads `t=` through int(), so `t=+<future>` verifies; it must not escape the future check.
    header = signed(payload, timestamp=now + 3600)
    header["Stripe-Signature"] = header["Stripe-Signature"].replace("t=", "t=+", 1)
    r = await client.post(URL, content=payload, headers=header)
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_signature"
    assert await balance(services, user_id) == start and await stored_events(services) == 0
    # A few seconds of clock skew is within the tolerance, both ways.
    skewed = await client.post(URL, content=payload, headers=signed(payload, timestamp=now + 5))
    assert skewed.status_code == 200 and skewed.json()["outcome"] == "credited"


def envelope(type_: str, obj: object, **top: object) -> str:
    return json.dumps({"id": "evt_bad", "object": "event", "type": type_, "data": {"object": obj},
                       "request": {"id": f"req_{MARK}"}, **top})


BAD_BODIES: dict[str, Callable[[], str]] = {
    "nul-in-type": lambda: envelope("charge.refunded\u0000", {"id": f"ch_{MARK}"}),
    "lone-surrogate": lambda: envelope("charge.refunded", {"id": "ch_1", "payment_intent": "\ud800"}),
    "surrogate-in-a-key": lambda: envelope("charge.refunded", {"id": "ch_1", "x\udfff": MARK}),
    "deep": lambda: '{"id": "evt_deep", "note": "' + MARK + '", "type": "charge.refunded", "data": '
    + "[" * 100_000 + "]" * 100_000 + "}",
    "not-json": lambda: '{"id": "evt_' + MARK + '", "type": ',
    "not-an-object": lambda: json.dumps([MARK]),
    "long-id": lambda: envelope("charge.refunded", {"id": "ch_1"}, id="evt_" + MARK * 2000),
    "odd-id": lambda: envelope("charge.refunded", {"id": "ch_1"}, id=f"evt {MARK}\nforged log line"),
    "type-not-text": lambda: envelope("charge.refunded", {}, type=7),
    "data-not-an-object": lambda: json.dumps({"id": "evt_1", "type": "charge.refunded", "data": MARK}),
    "object-a-list": lambda: envelope("checkout.session.completed", [MARK]),
    "metadata-not-an-object": lambda: envelope("checkout.session.completed", {"id": "cs_1", "metadata": MARK}),
    "metadata-key-not-shown": lambda: envelope(
        "checkout.session.completed", {"id": "cs_1", "metadata": {MARK: 5}}),
}


@pytest.mark.parametrize("make", BAD_BODIES.values(), ids=BAD_BODIES.keys())
async def test_signed_bodies_we_cannot_take_are_a_clean_400(
    client: httpx.AsyncClient, services: Services, make: Callable[[], str], caplog: pytest.LogCaptureFixture
):
    with caplog.at_level(logging.INFO, logger="smarthub"):
        r = await deliver(client, make())
    assert r.status_code == 400, r.text
    assert r.json()["error"]["code"] == "invalid_webhook_event"
    assert "Traceback" not in r.text and MARK not in r.text
    assert_logged_once_cleanly(caplog)
    assert await stored_events(services) == 0


@pytest.mark.parametrize("amount", ['"500"', "1e400", "5.0", "true", "-500", "[500]", "null-ish"])
async def test_a_refund_amount_that_is_not_a_count_of_minor_units_is_refused(
    client: httpx.AsyncClient, services: Services, fake_stripe: FakeStripe, amount: str,
    caplog: pytest.LogCaptureFixture,
):
    user_id, sid = await paid_purchase(client, services, fake_stripe)
    bought = await balance(services, user_id)
    charge = {**fake_stripe.charge(sid, amount_refunded=123456789), "description": MARK}
    payload = event("charge.refunded", charge).replace("123456789", amount if amount != "null-ish" else '{}')
    with caplog.at_level(logging.INFO, logger="smarthub"):
        r = await deliver(client, payload)
    assert r.status_code == 400, r.text
    assert r.json()["error"] == {
        "code": "invalid_webhook_event", "details": {"field": "data.object.amount_refunded"},
        "message": r.json()["error"]["message"],
    }
    assert_logged_once_cleanly(caplog)
    assert await balance(services, user_id) == bought
    assert await stored_events(services) == 1  # the purchase's own event only
