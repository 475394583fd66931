"""The metrics an operator alerts on (deploy/alerts.yml): holds open and the oldest one's age, the
database pools' use, and Stripe webhook deliveries by outcome; on SQLite and PostgreSQL."""

from __future__ import annotations

import re

import httpx
from prometheus_client.parser import text_string_to_metric_families

from smarthub_mcp.credits import MICRO
from smarthub_mcp.ids import now_ms
from smarthub_mcp.services import Services
from tests.billing.conftest import deliver
from tests.billing.test_payments import buy
from tests.factories import bearer, make_user_with_token
from tests.fakes.stripe_api import FakeStripe, event

URL = "/api/v1/payments/stripe/webhook"


async def scrape(client: httpx.AsyncClient, token: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = await client.get("/metrics", headers=bearer(token))
    assert response.status_code == 200
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(response.text) for s in family.samples}


async def test_open_holds_and_the_oldest_age(client, services: Services):
    _, manager = await make_user_with_token(services, role="manager")
    user_id, _ = await make_user_with_token(services)
    await services.ledger.grant(user_id, 5 * MICRO, kind="grant", idempotency_key="metrics-holds")
    before = await scrape(client, manager)
    assert before[("smarthub_holds_open", ())] == 0 and before[("smarthub_hold_oldest_age_seconds", ())] == 0
    first = await services.ledger.reserve(user_id, MICRO, ttl_seconds=600, idempotency_key="h1", reference="chat")
    await services.ledger.reserve(user_id, MICRO, ttl_seconds=600, idempotency_key="h2", reference="chat")
    held = await scrape(client, manager)
    assert held[("smarthub_holds_open", ())] == 2
    age = held[("smarthub_hold_oldest_age_seconds", ())]
    assert 0 <= age <= (now_ms() - first.created_at) / 1000
    await services.ledger.release(first.id)
    assert (await scrape(client, manager))[("smarthub_holds_open", ())] == 1


async def test_database_pools_are_reported_per_pool(client, services: Services):
    _, manager = await make_user_with_token(services, role="manager")
    metrics = await scrape(client, manager)
    size = services.settings.database.pool_size
    pools = {"engine"} if services.db.is_sqlite else {"engine", "hot"}
    for pool in pools:
        label = (("pool", pool),)
        assert metrics[("smarthub_db_pool_max_connections", label)] == size
        assert 0 <= metrics[("smarthub_db_pool_in_use_connections", label)] <= metrics[
            ("smarthub_db_pool_open_connections", label)] <= size
    assert not [key for key in metrics if key[0].startswith("smarthub_db_pool") and dict(key[1])["pool"] not in pools]


async def test_webhook_deliveries_by_outcome(client, services: Services, fake_stripe: FakeStripe):
    _, manager = await make_user_with_token(services, role="manager")
    _, token = await make_user_with_token(services)
    sid = (await buy(client, token))["session_id"]
    payload = event("checkout.session.completed", fake_stripe.complete(sid))
    assert (await deliver(client, payload)).status_code == 200
    assert (await deliver(client, payload)).status_code == 200  # a repeat is still a delivery taken
    forged = await client.post(URL, content=payload.encode(), headers={"Stripe-Signature": "t=1,v1=00"})
    assert forged.status_code == 400
    unreadable = await deliver(client, "not json")
    assert unreadable.status_code == 400
    metrics = await scrape(client, manager)
    deliveries = {dict(labels)["outcome"]: value for (name, labels), value in metrics.items()
                  if name == "smarthub_webhook_deliveries_total"}
    assert deliveries == {"ok": 2, "invalid_signature": 1, unreadable.json()["error"]["code"]: 1}
    assert re.fullmatch(r"invalid_\w+", unreadable.json()["error"]["code"])
