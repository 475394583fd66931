"""The deployment recipe, proven: Debian's caddy with the shipped deploy/Caddyfile (TLS from its
internal CA) in front of two `smarthub serve` processes on one PostgreSQL and one Redis.

500 concurrent metered chat calls (through the tool facade, to a loopback fake OpenAI that takes
0.3 s per answer, so calls are in flight on both replicas) go through the proxy, with promo
redemptions, Stripe checkouts and their signed webhook deliveries (each delivered twice) mixed in.
One replica gets SIGTERM while calls are in flight on it, and is started again. Then: every call answered 2xx has
exactly one usage row and one ledger entry of the same amount; no call that was not answered 2xx
was charged; every hold was settled once and none is open; each user's balance is exactly what the
answers add up to; `smarthub credits check` is clean; and the rate limit is shared through Redis.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
from collections import Counter
from pathlib import Path

import anyio
import httpx
import pytest
from sqlalchemy import text

from smarthub_mcp.compose import build_services, close_services
from smarthub_mcp.config import load_config
from smarthub_mcp.credits import MICRO
from smarthub_mcp.db import Database
from tests.billing.conftest import PACKAGES_TOML, STRIPE_KEY, WEBHOOK_SECRET, signed
from tests.clirunner import acli
from tests.conftest import base_env
from tests.factories import make_api_key, make_user_with_token
from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.stripe_api import FakeStripe, event
from tests.servers import Caddy, Replica

REDIS_URL = os.environ.get("SMARTHUB_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
USERS, CALLS_PER_USER = 25, 20  # 500 metered calls
SIGTERM_AFTER = 150  # calls at the provider before replica A is told to stop
PROVIDER_KEY = "sk-rolling-fake"
PROVIDER_TOML = """
[providers.paced]
type = "openai"
base_url = "{url}/v1"
api_key_env = "PACED_KEY"

[models.paced]
kind = "chat"
max_output_tokens = 64
routes = [{{ provider = "paced", upstream = "gpt-fake" }}]
price = {{ input_per_million = 1000, output_per_million = 2000 }}
"""
GRANT, PROMO, PACKAGE, SIGNUP = 10 * MICRO, 2 * MICRO, 100 * MICRO, 1 * MICRO
LIMITED, LIMIT = "limited@example.com", 10


def micro(credits: str) -> int:
    whole, frac = credits.split(".")
    return int(whole) * MICRO + int(frac)


@pytest.mark.parametrize("backend", ["postgresql"])
async def test_a_rolling_restart_behind_caddy_loses_nothing(db: Database, database_url: str, tmp_path: Path):
    async with FakeStripe(api_key=STRIPE_KEY) as stripe, FakeOpenAI(api_key=PROVIDER_KEY) as provider:
        provider.latency = 0.3
        provider.requests = Discard()
        config_file = tmp_path / "config.toml"
        config_file.write_text(PACKAGES_TOML + PROVIDER_TOML.format(url=provider.url), encoding="utf-8")
        env = base_env(
            database_url, PACED_KEY=PROVIDER_KEY,
            SMARTHUB_CONFIG=str(config_file), SMARTHUB_REDIS_URL=REDIS_URL,
            STRIPE_API_KEY=STRIPE_KEY, STRIPE_WEBHOOK_SECRET=WEBHOOK_SECRET,
            SMARTHUB_PAYMENTS__STRIPE_API_BASE=stripe.url,
            # PostgreSQL's 100 connections are shared with every other test run on the machine.
            SMARTHUB_DATABASE__POOL_SIZE="3",
            SMARTHUB_SERVER__SHUTDOWN_GRACE_SECONDS="30", SMARTHUB_SERVER__SHUTDOWN_DRAIN_SECONDS="3",
            SMARTHUB_SERVER__ALLOWED_HOSTS='["localhost"]',
            SMARTHUB_LIMITS__USERS=json.dumps({LIMITED: {"requests_per_minute": LIMIT}}),
        )
        keys, limited_key = await make_users(env)
        assert (await acli("promo", "create", "--credits", "2", "--code", "ROLLING", env=env)).returncode == 0

        a, b = Replica(env, tmp_path, "a"), Replica(env, tmp_path, "b")
        try:
            await asyncio.gather(a.start(), b.start())
            (tmp_path / "caddy").mkdir()
            async with Caddy([f"127.0.0.1:{a.port}", f"127.0.0.1:{b.port}"], tmp_path / "caddy") as caddy:
                outcome = await traffic(caddy, keys, stripe, provider, a)
                limited = await rate_limited_across_replicas(a, b, limited_key)
            last_exits = [await a.stop(), await b.stop()]
        finally:
            a.kill()
            b.kill()

    chats, redeems, deliveries, first_exit = outcome
    statuses = Counter(status for _, _, status, _ in chats)
    print(f"\nchat answers through caddy: {dict(statuses)}; redeem: {dict(Counter(redeems.values()))};"
          f" webhook deliveries: {dict(Counter(s for pair in deliveries.values() for s in pair))}")
    assert first_exit == 0 and last_exits == [0, 0], "a replica stopped by SIGTERM exits cleanly"
    stopped = a.log_text(0)
    in_flight = re.search(r"SIGTERM: draining for 3.0 s \(readiness 503, still serving; (\d+) request", stopped)
    assert in_flight and int(in_flight[1]) > 0, "SIGTERM landed while calls were in flight on A"
    assert "Application shutdown complete" in stopped
    for log in (a.log_text(), b.log_text()):
        assert "Traceback" not in log and "Exception in ASGI application" not in log
    # The drain takes A out of Caddy before it stops accepting: no call is cut off, none is lost.
    assert statuses == {200: len(chats)}, statuses

    # The rate limit is shared: 6 calls to A, then 6 to B, for a user allowed 10 a minute.
    assert limited == [200] * 6 + [200] * 4 + [429] * 2

    await check_books(database_url, chats, redeems, deliveries, keys)
    ran = await acli("credits", "check", env=env)
    assert ran.returncode == 0 and "no drift" in ran.stdout, ran.stdout + ran.stderr


async def make_users(env: dict[str, str]) -> tuple[dict[str, str], str]:
    """{user_id: api key} for the metered users (each granted GRANT), and the rate-limited user's key."""
    services = build_services(load_config(env["SMARTHUB_CONFIG"], env=env))
    try:
        keys: dict[str, str] = {}
        for n in range(USERS):
            user_id, _ = await make_user_with_token(services, f"roller{n}@example.com")
            await services.ledger.grant(user_id, GRANT, kind="grant", idempotency_key=f"roll-grant-{n}")
            keys[user_id] = await make_api_key(services, user_id)
        limited_id, _ = await make_user_with_token(services, LIMITED)
        return keys, await make_api_key(services, limited_id)
    finally:
        await close_services(services)


class Discard(list):
    """The fake's request log, counted but not kept."""

    count = 0

    def append(self, item: object) -> None:
        self.count += 1

    def __len__(self) -> int:
        return self.count


async def traffic(
    caddy: Caddy, keys: dict[str, str], stripe: FakeStripe, provider: FakeOpenAI, a: Replica
) -> tuple:
    chats: list[tuple[str, str, int, int]] = []  # (request id, user id, status, micro-credits charged)
    redeems: dict[str, int] = {}
    deliveries: dict[str, tuple[int, int]] = {}
    first_exit: list[int] = []
    limits = httpx.Limits(max_connections=600, max_keepalive_connections=600)
    async with httpx.AsyncClient(base_url=caddy.url, verify=caddy.tls_context(), timeout=90,
                                 limits=limits) as http:

        async def chat(user_id: str, i: int) -> None:
            request_id = f"roll-{user_id}-{i}"
            r = await http.post("/api/v1/tools/chat", json={"model": "paced", "prompt": f"call {i}", "max_tokens": 16},
                                headers={"Authorization": f"Bearer {keys[user_id]}", "X-Request-ID": request_id})
            chats.append((request_id, user_id, r.status_code,
                          micro(r.json()["credits_charged"]) if r.status_code == 200 else 0))

        async def redeem(user_id: str) -> None:
            r = await http.post("/api/v1/promo/redeem", json={"code": "rolling"},
                                headers={"Authorization": f"Bearer {keys[user_id]}"})
            redeems[user_id] = r.status_code

        async def buy(user_id: str) -> None:
            r = await http.post("/api/v1/credits/purchase", json={"package_id": "starter"},
                                headers={"Authorization": f"Bearer {keys[user_id]}"})
            if r.status_code != 201:
                deliveries[user_id] = (0, 0)
                return
            payload = event("checkout.session.completed", stripe.complete(r.json()["session_id"]))

            async def deliver() -> int:  # Stripe delivers at least once: here, twice at the same moment
                return (await http.post("/api/v1/payments/stripe/webhook", content=payload.encode(),
                                        headers=signed(payload))).status_code

            first, second = await asyncio.gather(deliver(), deliver())
            deliveries[user_id] = (first, second)

        async def restart() -> None:
            with anyio.fail_after(60):
                while len(provider.requests) < SIGTERM_AFTER:  # noqa: ASYNC110 -- counted by the fake's handler
                    await asyncio.sleep(0.01)
            a.sigterm()
            first_exit.append(await a.exited())
            await a.start()

        work = [chat(user_id, i) for i in range(CALLS_PER_USER) for user_id in keys]
        work += [redeem(user_id) for user_id in keys] + [buy(user_id) for user_id in keys]
        await asyncio.gather(restart(), *work)
    return chats, redeems, deliveries, first_exit[0]


async def rate_limited_across_replicas(a: Replica, b: Replica, key: str) -> list[int]:
    statuses = []
    async with httpx.AsyncClient(timeout=30, headers={"Authorization": f"Bearer {key}"}) as http:
        for replica in (a, a, a, a, a, a, b, b, b, b, b, b):
            r = await http.post(f"{replica.url}/api/v1/tools/chat",
                                json={"model": "paced", "prompt": "limited", "max_tokens": 8})
            statuses.append(r.status_code)
            if r.status_code == 429:
                assert r.json()["error"]["code"] == "rate_limited"
    return statuses


async def check_books(database_url: str, chats: list, redeems: dict, deliveries: dict, keys: dict) -> None:
    db = Database(database_url, pool_size=2)
    try:
        async with db.read() as conn:
            usage = {r.request_id: r for r in await conn.execute(text(
                "SELECT request_id, status, cost, hold_id FROM usage_events WHERE request_id LIKE 'roll-%'"))}
            rows_per_request = Counter(r[0] for r in await conn.execute(text(
                "SELECT request_id FROM usage_events WHERE request_id LIKE 'roll-%'")))
            entries = {r.hold_id: r.amount for r in await conn.execute(text(
                "SELECT hold_id, amount FROM ledger_entries WHERE kind = 'usage'"))}
            holds = Counter(r[0] for r in await conn.execute(text("SELECT status FROM holds")))
            still_open = [tuple(r) for r in await conn.execute(text(
                "SELECT id, request_id, reference, created_at, expires_at FROM holds WHERE status = 'open'"))]
            settled_rows = (await conn.execute(text(
                "SELECT count(*) FROM usage_events WHERE hold_id IS NOT NULL"))).scalar_one()
            purchases = Counter(r[0] for r in await conn.execute(text(
                "SELECT account_id FROM ledger_entries WHERE kind = 'purchase'")))
        balances = {user_id: (await ledger_balance(db, user_id)) for user_id in keys}
    finally:
        await db.close()

    for request_id, _user, status, charged in chats:
        if status == 200:  # accepted: charged exactly once, by exactly what the answer said
            assert rows_per_request[request_id] == 1, request_id
            row = usage[request_id]
            assert row.status == "ok" and row.cost == charged > 0
            assert entries[row.hold_id] == -charged
        else:  # not answered: not charged
            assert request_id not in usage or usage[request_id].status != "ok", request_id
    answered = {request_id: status for request_id, _, status, _ in chats}
    assert holds.get("open", 0) == 0, (holds, [(h, answered.get(h[1])) for h in still_open])
    assert sum(holds.values()) == settled_rows, "each hold ended once, with one usage row"

    for user_id in keys:
        credited = deliveries[user_id] != (400, 400) and 200 in deliveries[user_id]
        assert purchases[user_id] == (1 if credited else 0), "a session credits once however often delivered"
        promo = PROMO if redeems[user_id] == 200 else 0
        spent = sum(charged for _, user, status, charged in chats if user == user_id and status == 200)
        assert balances[user_id] == SIGNUP + GRANT + promo + (PACKAGE if credited else 0) - spent, user_id
    assert set(redeems.values()) == {200}, redeems
    assert all(200 in pair for pair in deliveries.values()), deliveries


async def ledger_balance(db: Database, user_id: str) -> int:
    from smarthub_mcp.billing.ledger import Ledger

    return (await Ledger(db).balance(user_id)).balance
