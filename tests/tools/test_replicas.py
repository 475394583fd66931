"""Two replicas (two apps, two engines, two uvicorn servers) on one database: every call lands on
either, and the ledger stays exact to the micro-credit. On SQLite the two share one file."""

from __future__ import annotations

import asyncio

import httpx

from smarthub_mcp.app import build_app
from smarthub_mcp.compose import build_services
from smarthub_mcp.credits import MICRO
from tests.conftest import LiveServer
from tests.factories import bearer, make_user_with_token

CALLS = 40


def micro(credits: str) -> int:
    whole, frac = credits.split(".")
    return int(whole) * MICRO + int(frac)


async def test_two_replicas_charge_exactly(config, db):
    replica_a, replica_b = build_services(config), build_services(config)
    user_id, token = await make_user_with_token(replica_a)
    await replica_a.ledger.grant(user_id, 5 * MICRO, kind="grant", idempotency_key="replica-test")
    async with LiveServer(build_app(services=replica_a)) as a, LiveServer(build_app(services=replica_b)) as b:
        async with httpx.AsyncClient(headers=bearer(token), timeout=30) as http:

            async def call(i: int) -> int:
                url = (a.url, b.url)[i % 2]
                response = await http.post(f"{url}/api/v1/tools/chat", json={"prompt": f"call {i}", "max_tokens": 16})
                assert response.status_code == 200, response.text
                return micro(response.json()["credits_charged"])

            charges = await asyncio.gather(*(call(i) for i in range(CALLS)))
    checker = build_services(config)
    try:
        balance = await checker.ledger.balance(user_id)
        assert balance.balance == 6 * MICRO - sum(charges)
        assert balance.held == 0
        assert await checker.ledger.check() == []
        entries, _ = await checker.ledger.history(user_id, kinds=["usage"], limit=100)
        assert len(entries) == CALLS
    finally:
        await checker.db.close()
