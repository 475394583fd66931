"""Promo codes and top-ups through the MCP tools."""

from __future__ import annotations

import pytest
from mcp import Client

from smarthub_mcp.billing.promo_admin import PromoCreate, create_code
from smarthub_mcp.compose import build_services
from smarthub_mcp.credits import MICRO
from smarthub_mcp.tools.server import build_mcp_server
from tests.billing.conftest import PACKAGES_TOML, STRIPE_KEY
from tests.factories import make_api_key, make_user_with_token
from tests.tools.results import error_of


async def client_for(services, role: str = "user") -> tuple[str, Client]:
    user_id, _ = await make_user_with_token(services, role=role)
    key = await make_api_key(services, user_id)
    return user_id, Client(build_mcp_server(services, api_key=key))


async def test_redeem_promo_adds_credits_once(services):
    await create_code(services, PromoCreate(code="WELCOME5", credits=5), actor_id=None)
    user_id, client = await client_for(services)
    async with client:
        first = await client.call_tool("redeem_promo", {"code": "welcome5"})
        again = await client.call_tool("redeem_promo", {"code": "WELCOME5"})
        unknown = await client.call_tool("redeem_promo", {"code": "NOPE"})
    assert not first.is_error
    assert first.structured_content == {"code": "WELCOME5", "credits_added": "5.000000", "balance": "6.000000"}
    assert error_of(again)["code"] == "promo_already_redeemed"
    assert error_of(unknown)["code"] == "promo_not_found"
    assert (await services.ledger.balance(user_id)).balance == 6 * MICRO


async def test_buy_credits_lists_packages_then_opens_a_checkout(services, fake_stripe):
    user_id, client = await client_for(services)
    async with client:
        listing = await client.call_tool("buy_credits", {})
        checkout = await client.call_tool("buy_credits", {"package_id": "starter"})
        bad = await client.call_tool("buy_credits", {"package_id": "gold"})
    assert [p["id"] for p in listing.structured_content["packages"]] == ["starter", "pro"]
    assert listing.structured_content["checkout_url"] is None
    assert listing.structured_content["available"] is True
    assert listing.structured_content["unavailable_reason"] is None
    assert "starter" in listing.content[0].text
    out = checkout.structured_content
    assert out["package_id"] == "starter" and out["checkout_url"].startswith("https://")
    assert out["checkout_url"] in checkout.content[0].text
    assert bad.is_error and error_of(bad)["code"] == "unknown_package"
    # Nothing is credited before Stripe says the payment completed.
    assert (await services.ledger.balance(user_id)).balance == MICRO


@pytest.mark.parametrize(
    ("packages", "stripe", "why"),
    [
        (False, False, "no credit packages ([[packages]] in config.toml) and no Stripe key (STRIPE_API_KEY)"),
        (False, True, "no credit packages ([[packages]] in config.toml)."),
        (True, False, "no Stripe key (STRIPE_API_KEY)."),
    ],
)
async def test_buy_credits_says_why_nothing_can_be_bought(make_config, db, packages, stripe, why):
    env = {"STRIPE_API_KEY": STRIPE_KEY} if stripe else {}
    services = build_services(make_config(toml=PACKAGES_TOML if packages else None, **env))
    try:
        _, client = await client_for(services)
        async with client:
            listing = await client.call_tool("buy_credits", {})
    finally:
        await services.db.close()
    assert not listing.is_error, listing.content
    out = listing.structured_content
    assert out["available"] is False and why in out["unavailable_reason"]
    assert len(out["packages"]) == (2 if packages else 0)
    text = listing.content[0].text
    assert text.startswith("Buying credits is not available on this server") and why in text
    assert "redeem_promo" in text
