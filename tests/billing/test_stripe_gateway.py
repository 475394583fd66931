"""The Stripe adapter against the loopback fake, through the real SDK; signatures with the SDK's signer."""

from __future__ import annotations

import time

import pytest
import stripe

from smarthub_mcp.billing.errors import (
    InvalidSignature,
    InvalidWebhookEvent,
    PaymentProviderError,
    PaymentsUnavailable,
)
from smarthub_mcp.billing.stripe_gateway import StripeGateway
from smarthub_mcp.config import PackageConfig, load_config
from tests.fakes.stripe_api import FakeStripe, event, parse_form

SECRET = "whsec_test_secret"
PACKAGE = PackageConfig(id="starter", name="100 credits", credits=100, price_minor=1000, currency="usd")


def gateway(url: str | None, key: str | None = "sk_test_fake") -> StripeGateway:
    env = {"SMARTHUB_PAYMENTS__STRIPE_API_BASE": url or "", "STRIPE_WEBHOOK_SECRET": SECRET}
    if key:
        env["STRIPE_API_KEY"] = key
    if not url:
        env.pop("SMARTHUB_PAYMENTS__STRIPE_API_BASE")
    return StripeGateway(load_config(env=env))


def test_parse_form_brackets():
    got = parse_form([("mode", "payment"), ("metadata[a]", "1"), ("line_items[0][quantity]", "1"),
                      ("line_items[0][price_data][currency]", "usd")])
    assert got == {"mode": "payment", "metadata": {"a": "1"},
                   "line_items": [{"quantity": "1", "price_data": {"currency": "usd"}}]}


async def test_create_checkout_session_through_the_sdk():
    async with FakeStripe() as fake:
        gw = gateway(fake.url)
        session = await gw.create_checkout_session(payment_id="pay_1", user_id="usr_1", email="a@example.com",
                                                   package=PACKAGE)
        assert session.id.startswith("cs_test_")
        assert session.url.endswith(session.id)
        assert session.amount_total == 1000 and session.currency == "usd"
        sent = fake.requests[-1]
        assert sent["headers"]["idempotency-key"] == "checkout-pay_1"
        assert sent["params"]["client_reference_id"] == "usr_1"
        assert sent["params"]["metadata"] == {"payment_id": "pay_1", "user_id": "usr_1", "package_id": "starter"}
        assert sent["params"]["line_items"][0]["price_data"]["unit_amount"] == "1000"
        # The same payment id again (a retried request) gets the same session back.
        again = await gw.create_checkout_session(payment_id="pay_1", user_id="usr_1", email=None, package=PACKAGE)
        assert again.id == session.id
        assert len(fake.sessions) == 1


async def test_stripe_errors_become_our_errors():
    async with FakeStripe() as fake:
        with pytest.raises(PaymentProviderError):
            await gateway(fake.url, key="sk_test_wrong").create_checkout_session(
                payment_id="pay_2", user_id="u", email=None, package=PACKAGE)
        fake.fail_next = (400, "boom")
        with pytest.raises(PaymentProviderError):
            await gateway(fake.url).create_checkout_session(payment_id="pay_3", user_id="u", email=None,
                                                            package=PACKAGE)


async def test_missing_key_is_payments_unavailable():
    with pytest.raises(PaymentsUnavailable):
        await gateway(None, key=None).create_checkout_session(payment_id="p", user_id="u", email=None,
                                                              package=PACKAGE)


def test_signature_verification():
    gw = gateway(None)
    body = event("checkout.session.completed", {"id": "cs_1"})
    header = stripe.WebhookSignature.generate_signature_header(body, SECRET)
    assert gw.verify_event(body.encode(), header, tolerance=300)["type"] == "checkout.session.completed"
    forged = stripe.WebhookSignature.generate_signature_header(body, "whsec_other")
    stale = stripe.WebhookSignature.generate_signature_header(body, SECRET, timestamp=int(time.time()) - 301)
    for bad_body, bad_header in [(body, forged), (body, stale), (body.replace("cs_1", "cs_2"), header),
                                 (body, None), (body, "t=1,v0=abc")]:
        with pytest.raises(InvalidSignature):
            gw.verify_event(bad_body.encode(), bad_header, tolerance=300)
    # Correctly signed bodies that are not an event object are refused too, not a 500.
    for odd in ("[1, 2]", '"text"', "3", '{"id": 5, "type": "x"}', '{"type": "x"}', "{"):
        signed = stripe.WebhookSignature.generate_signature_header(odd, SECRET)
        with pytest.raises(InvalidWebhookEvent):
            gw.verify_event(odd.encode(), signed, tolerance=300)
