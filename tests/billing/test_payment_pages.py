"""The default Stripe return URLs are pages of this server (api/payment_pages.py), and the success
page grants nothing: only the signed webhook does."""

from __future__ import annotations

from urllib.parse import urlsplit

import httpx

from smarthub_mcp.services import Services
from tests.billing.test_payments import balance, buy, payment_row
from tests.factories import make_user_with_token
from tests.fakes.stripe_api import FakeStripe


def local(url: str) -> str:
    parts = urlsplit(url)
    assert (parts.scheme, parts.netloc) == ("http", "127.0.0.1:8000")  # the default config
    return parts.path + (f"?{parts.query}" if parts.query else "")


def assert_page(response: httpx.Response) -> None:
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert response.headers["content-security-policy"].startswith("default-src 'none';")
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["referrer-policy"] == "no-referrer"


async def test_the_return_pages_answer_and_the_success_page_grants_nothing(
    client: httpx.AsyncClient, services: Services, fake_stripe: FakeStripe
):
    user_id, token = await make_user_with_token(services)
    start = await balance(services, user_id)
    sid = (await buy(client, token))["session_id"]
    sent = fake_stripe.requests[-1]["params"]

    # Stripe fills in the session id when it redirects.
    success = await client.get(local(sent["success_url"].replace("{CHECKOUT_SESSION_ID}", sid)))
    assert_page(success)
    assert "Payment received" in success.text and "when Stripe confirms the payment" in success.text
    assert (await payment_row(services, sid))["status"] == "pending"
    assert await balance(services, user_id) == start

    cancel = await client.get(local(sent["cancel_url"]))
    assert_page(cancel)
    assert "No charge was made" in cancel.text


async def test_the_success_page_does_not_echo_its_query(client: httpx.AsyncClient):
    r = await client.get("/payments/success", params={"session_id": "<script>alert(1)</script>"})
    assert_page(r)
    assert "script" not in r.text
