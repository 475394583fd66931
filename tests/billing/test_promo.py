"""Promo codes: admin API, redemption rules with distinct error codes, brute-force limit, races."""

from __future__ import annotations

import asyncio
import contextlib

import httpx
import pytest
from sqlalchemy import text

from smarthub_mcp.billing import promo, promo_admin
from smarthub_mcp.billing.errors import PromoAlreadyRedeemed, PromoExhausted
from smarthub_mcp.credits import MICRO
from smarthub_mcp.identity.principal import Principal
from smarthub_mcp.ids import now_ms
from smarthub_mcp.services import Services
from tests.factories import bearer, make_user_with_token

HOUR = 3_600_000


def principal(user_id: str) -> Principal:
    return Principal(user_id=user_id, email=f"{user_id}@example.com", role="user", permissions=frozenset(),
                     auth_method="jwt")


async def new_code(services: Services, **kw) -> dict:
    kw.setdefault("credits", 5)
    return await promo_admin.create_code(services, promo_admin.PromoCreate(**kw), actor_id=None)


async def test_admin_manages_codes_over_http(client: httpx.AsyncClient, services: Services):
    _, admin = await make_user_with_token(services, role="admin")
    _, plain = await make_user_with_token(services)
    r = await client.post("/api/v1/promo/codes", json={"credits": "2.5", "code": "spring-25"}, headers=bearer(plain))
    assert r.status_code == 403
    r = await client.post("/api/v1/promo/codes", json={"credits": "2.5", "code": "spring-25", "max_redemptions": 3,
                                                       "expires_at": "2999-01-01T00:00:00Z"}, headers=bearer(admin))
    assert r.status_code == 201, r.text
    created = r.json()
    assert created["code"] == "SPRING25" and created["credits"] == "2.500000" and created["max_redemptions"] == 3
    r = await client.post("/api/v1/promo/codes", json={"credits": 1, "code": "Spring 25"}, headers=bearer(admin))
    assert r.status_code == 409 and r.json()["error"]["code"] == "promo_code_taken"
    r = await client.post("/api/v1/promo/codes", json={"credits": 1}, headers=bearer(admin))
    generated = r.json()["code"]
    assert len(generated) == 10 and not set(generated) & set("0O1I")
    r = await client.post("/api/v1/promo/codes", json={"credits": -1}, headers=bearer(admin))
    assert r.status_code == 400
    r = await client.put(f"/api/v1/promo/codes/{created['id']}", json={"max_redemptions": 5}, headers=bearer(admin))
    assert r.status_code == 200 and r.json()["max_redemptions"] == 5
    r = await client.delete(f"/api/v1/promo/codes/{created['id']}", headers=bearer(admin))
    assert r.status_code == 200 and r.json()["active"] is False
    r = await client.get("/api/v1/promo/codes", headers=bearer(admin))
    assert {c["code"] for c in r.json()["codes"]} == {"SPRING25", generated}
    r = await client.get("/api/v1/promo/codes", params={"active": "true"}, headers=bearer(admin))
    assert [c["code"] for c in r.json()["codes"]] == [generated]
    r = await client.put("/api/v1/promo/codes/promo_nope", json={"active": True}, headers=bearer(admin))
    assert r.status_code == 404


async def test_out_of_range_and_null_fields_are_400s(client: httpx.AsyncClient, services: Services):
    """Values the store cannot hold are refused with a 400 naming the field, never a database error."""
    _, admin = await make_user_with_token(services, role="admin")
    for body in ({"credits": 99_999_999_999_999}, {"credits": "1e30"}, {"credits": "1e999999"},
                 {"credits": 1, "max_redemptions": 10**20},
                 {"credits": 1, "expires_at": 10**20}, {"credits": 1, "starts_at": -1},
                 {"credits": 1, "description": None}, {"credits": 1, "active": None}):
        r = await client.post("/api/v1/promo/codes", json=body, headers=bearer(admin))
        assert r.status_code == 400, (body, r.status_code, r.text)
        assert r.json()["error"]["code"] == "invalid_request"
    created = (await client.post("/api/v1/promo/codes", json={"credits": 1}, headers=bearer(admin))).json()
    for body in ({"description": None}, {"active": None}, {"new_users_only": None}, {"credits": 10**12},
                 {"credits": "1e999999"},
                 {"max_redemptions": 10**20}):
        r = await client.put(f"/api/v1/promo/codes/{created['id']}", json=body, headers=bearer(admin))
        assert r.status_code == 400, (body, r.status_code, r.text)
    after = (await client.get(f"/api/v1/promo/codes/{created['id']}", headers=bearer(admin))).json()
    assert after["description"] == "" and after["active"] is True and after["credits"] == "1.000000"


async def test_redeem_over_http_grants_once_and_counts(client: httpx.AsyncClient, services: Services):
    user_id, token = await make_user_with_token(services)
    code = await new_code(services, code="WELCOME", credits="7.5")
    start = (await services.ledger.balance(user_id)).balance
    r = await client.post("/api/v1/promo/redeem", json={"code": " welcome "}, headers=bearer(token))
    assert r.status_code == 200, r.text
    assert r.json()["credits"] == "7.500000"
    assert r.json()["balance"] == f"{(start + 7_500_000) // MICRO}.500000"
    r = await client.post("/api/v1/promo/redeem", json={"code": "WELCOME"}, headers=bearer(token))
    assert r.status_code == 409 and r.json()["error"]["code"] == "promo_already_redeemed"
    assert (await services.ledger.balance(user_id)).balance == start + 7_500_000
    got = await promo_admin.get_code(services, code["id"])
    assert got["analytics"]["redemptions"] == 1 and got["analytics"]["credits_granted"] == "7.500000"
    assert got["analytics"]["last_redeemed_at"] is not None


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ({"code": "GONE", "expires_at": 1}, "promo_expired"),
        ({"code": "LATER", "starts_at": 4_000_000_000_000}, "promo_not_started"),
        ({"code": "OFF", "active": False}, "promo_inactive"),
    ],
)
async def test_refusals_have_distinct_codes(client: httpx.AsyncClient, services: Services, spec, expected):
    _, token = await make_user_with_token(services)
    await new_code(services, **spec)
    r = await client.post("/api/v1/promo/redeem", json={"code": spec["code"]}, headers=bearer(token))
    assert r.json()["error"]["code"] == expected
    r = await client.post("/api/v1/promo/redeem", json={"code": "NOSUCHCODE"}, headers=bearer(token))
    assert r.status_code == 404 and r.json()["error"]["code"] == "promo_not_found"


async def test_exhausted_and_new_users_only(services: Services, db):
    first, _ = await make_user_with_token(services)
    second, _ = await make_user_with_token(services)
    await new_code(services, code="ONCE", max_redemptions=1)
    await promo.redeem(services, principal(first), "once")
    with pytest.raises(PromoExhausted):
        await promo.redeem(services, principal(second), "ONCE")
    await new_code(services, code="FRESH", new_users_only=True)
    old, _ = await make_user_with_token(services)
    async with db.write() as conn:  # registered 31 days ago
        await conn.execute(text("UPDATE users SET created_at = :t WHERE id = :u"), {"t": now_ms() - 31 * 24 * HOUR,
                                                                                    "u": old})
    with pytest.raises(promo.PromoNewUsersOnly):
        await promo.redeem(services, principal(old), "FRESH")
    assert (await promo.redeem(services, principal(second), "FRESH")).credits == 5 * MICRO


async def test_failed_guesses_are_rate_limited_per_user(client: httpx.AsyncClient, services: Services):
    _, token = await make_user_with_token(services)
    _, other = await make_user_with_token(services)
    await new_code(services, code="REAL")
    for i in range(10):
        r = await client.post("/api/v1/promo/redeem", json={"code": f"GUESS{i}"}, headers=bearer(token))
        assert r.json()["error"]["code"] == "promo_not_found"
    r = await client.post("/api/v1/promo/redeem", json={"code": "REAL"}, headers=bearer(token))
    assert r.status_code == 429 and r.json()["error"]["code"] == "rate_limited"
    assert int(r.headers["Retry-After"]) > 0
    r = await client.post("/api/v1/promo/redeem", json={"code": "REAL"}, headers=bearer(other))
    assert r.status_code == 200  # the limit is per user


async def test_parallel_guesses_get_no_more_tries_than_sequential_ones(services: Services):
    """Each attempt is counted before its code is looked up: sixty guesses sent at once get the
    ten allowed failures and fifty refusals; the attempts that succeed give their count back."""
    user, _ = await make_user_with_token(services)
    await new_code(services, code="REAL")
    results = await asyncio.gather(
        *(promo.redeem(services, principal(user), f"GUESS{i}") for i in range(60)), return_exceptions=True
    )
    codes = sorted(getattr(r, "code", "ok") for r in results)
    assert codes == ["promo_not_found"] * 10 + ["rate_limited"] * 50, codes
    async with services.db.read() as conn:
        reasons = (await conn.execute(text("SELECT reason FROM promo_failures WHERE user_id = :u"),
                                      {"u": user})).scalars().all()
    assert reasons == ["promo_not_found"] * 10  # no attempt is left 'pending'

    other, _ = await make_user_with_token(services)
    for _ in range(3):  # successes and repeats: only the refusals count
        with contextlib.suppress(promo.PromoAlreadyRedeemed):
            await promo.redeem(services, principal(other), "REAL")
    async with services.db.read() as conn:
        left = (await conn.execute(text("SELECT reason FROM promo_failures WHERE user_id = :u"),
                                   {"u": other})).scalars().all()
    assert left == ["promo_already_redeemed"] * 2


async def test_hundred_users_race_for_ten_redemptions(services: Services):
    await new_code(services, code="RACE", max_redemptions=10, credits=3)
    users = [(await make_user_with_token(services))[0] for _ in range(100)]
    before = {u: (await services.ledger.balance(u)).balance for u in users}
    results = await asyncio.wait_for(
        asyncio.gather(*(promo.redeem(services, principal(u), "race") for u in users), return_exceptions=True), 120
    )
    winners = [u for u, r in zip(users, results, strict=True) if isinstance(r, promo.Redemption)]
    losers = [r for r in results if not isinstance(r, promo.Redemption)]
    assert len(winners) == 10
    assert all(isinstance(r, PromoExhausted) for r in losers), {type(r).__name__ for r in losers}
    for u in users:
        expected = before[u] + (3 * MICRO if u in winners else 0)
        assert (await services.ledger.balance(u)).balance == expected
    async with services.db.read() as conn:
        count, granted = (await conn.execute(
            text("SELECT redemptions_count, credits_granted FROM promo_codes WHERE code = 'RACE'"))).one()
        rows = (await conn.execute(text("SELECT COUNT(*) FROM promo_redemptions"))).scalar()
    assert (count, granted, rows) == (10, 30 * MICRO, 10)


async def test_same_user_redeeming_twice_at_once_gets_it_once(services: Services):
    user_id, _ = await make_user_with_token(services)
    await new_code(services, code="TWICE", credits=4)
    before = (await services.ledger.balance(user_id)).balance
    results = await asyncio.wait_for(asyncio.gather(
        *(promo.redeem(services, principal(user_id), "TWICE") for _ in range(5)), return_exceptions=True), 30)
    assert sum(isinstance(r, promo.Redemption) for r in results) == 1
    assert all(isinstance(r, PromoAlreadyRedeemed) for r in results if not isinstance(r, promo.Redemption))
    assert (await services.ledger.balance(user_id)).balance == before + 4 * MICRO
