"""Every authenticated HTTP route that writes, or calls Stripe, counts against the caller's
requests-per-minute limit: a burst past it is refused before any Checkout Session or row is made."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import text

from smarthub_mcp.config import AppConfig
from tests.billing.conftest import PACKAGES_TOML, STRIPE_KEY, WEBHOOK_SECRET
from tests.factories import bearer, make_user_with_token
from tests.fakes.stripe_api import FakeStripe
from tests.identity.helpers import app_client

LIMIT = 5
BURST = 30


@pytest.fixture
def config(make_config, fake_stripe: FakeStripe) -> AppConfig:
    return make_config(
        toml=PACKAGES_TOML,
        STRIPE_API_KEY=STRIPE_KEY,
        STRIPE_WEBHOOK_SECRET=WEBHOOK_SECRET,
        SMARTHUB_PAYMENTS__STRIPE_API_BASE=fake_stripe.url,
        SMARTHUB_LIMITS__ROLES__USER__REQUESTS_PER_MINUTE=str(LIMIT),
    )


async def count(services, sql: str, user_id: str) -> int:
    async with services.db.read() as conn:
        return (await conn.execute(text(sql), {"u": user_id})).scalar_one()


async def test_a_purchase_burst_past_the_limit_makes_no_more_checkout_sessions(config, db, fake_stripe):
    async with app_client(config) as client:
        user_id, token = await make_user_with_token(client.services)
        responses = await asyncio.gather(*(
            client.post("/api/v1/credits/purchase", json={"package_id": "starter"}, headers=bearer(token))
            for _ in range(BURST)
        ))
        statuses = sorted(r.status_code for r in responses)
        assert statuses.count(201) <= LIMIT and statuses.count(201) >= 1
        refused = [r for r in responses if r.status_code == 429]
        assert len(refused) == BURST - statuses.count(201)
        assert all(r.json()["error"]["code"] == "rate_limited" and int(r.headers["retry-after"]) >= 1
                   for r in refused)
        made = await count(client.services, "SELECT COUNT(*) FROM payments WHERE user_id = :u", user_id)
        assert made == statuses.count(201) == len(fake_stripe.sessions)


async def test_a_template_burst_past_the_limit_saves_no_more_templates(config, db):
    async with app_client(config) as client:
        user_id, token = await make_user_with_token(client.services)
        responses = await asyncio.gather(*(
            client.post("/api/v1/templates", json={"name": f"t{i}", "body": "Hello there"}, headers=bearer(token))
            for i in range(BURST)
        ))
        created = [r for r in responses if r.status_code == 201]
        assert 1 <= len(created) <= LIMIT
        assert {r.status_code for r in responses} <= {201, 429}
        saved = await count(client.services, "SELECT COUNT(*) FROM templates WHERE owner_id = :u", user_id)
        assert saved == len(created)
        # Reads do not count: the user can still look at what they have.
        assert (await client.get("/api/v1/templates", headers=bearer(token))).status_code == 200
