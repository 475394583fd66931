"""The credit routes over HTTP (in process), on SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import io

from sqlalchemy import text

from smarthub_mcp.billing.meter import Usage
from smarthub_mcp.compose import build_services
from smarthub_mcp.credits import MICRO
from smarthub_mcp.identity.principal import Principal
from tests.billing.auth import bearer
from tests.factories import make_user

C = MICRO


async def member(services, credits: int = 0, role: str = "user", email: str | None = None) -> str:
    user = await make_user(services.db, email=email, role=role)
    async with services.db.write() as conn:
        for hook in services.user_created_hooks:
            await hook(conn, user)
    if credits:
        await services.ledger.grant(user, credits * C, kind="purchase", idempotency_key=f"buy:{user}")
    return user


async def test_balance_history_and_stats(client, services):
    user = await member(services, 10)
    principal = Principal(user, "", "user", frozenset({"tools:chat"}), "jwt")

    async def work() -> tuple[str, Usage]:
        return "ok", Usage(cost=1_500_000, provider="demo", input_tokens=3, output_tokens=4)

    await services.meter.run(principal, tool="chat", permission="tools:chat", model="demo-chat", estimate=2 * C,
                             work=work)
    await services.ledger.reserve(user, C, ttl_seconds=60, idempotency_key="open")
    auth = bearer(services, user)
    body = (await client.get("/api/v1/credits/balance", headers=auth)).json()
    assert body == {"balance": "9.500000", "held": "1.000000", "available": "8.500000"}  # 1 sign-up + 10 - 1.5

    page = (await client.get("/api/v1/credits/history?limit=2", headers=auth)).json()
    assert [e["kind"] for e in page["items"]] == ["usage", "purchase"] and page["next_cursor"]
    rest = (await client.get(f"/api/v1/credits/history?limit=2&cursor={page['next_cursor']}", headers=auth)).json()
    assert [e["kind"] for e in rest["items"]] == ["grant"] and rest["next_cursor"] is None
    only = (await client.get("/api/v1/credits/history?kind=usage", headers=auth)).json()
    assert [e["amount"] for e in only["items"]] == ["-1.500000"]
    future = (await client.get("/api/v1/credits/history?from=2999-01-01", headers=auth)).json()
    assert future["items"] == []
    bad = await client.get("/api/v1/credits/history?kind=nope", headers=auth)
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "invalid_request"

    stats = (await client.get("/api/v1/credits/stats", headers=auth)).json()
    assert stats["calls"] == 1 and stats["cost"] == "1.500000"
    assert stats["by_tool"] == [{"tool": "chat", "calls": 1, "cost": "1.500000", "input_tokens": 3,
                                 "output_tokens": 4}]
    assert stats["by_model"][0]["model"] == "demo-chat" and len(stats["by_day"]) == 1


async def test_time_filters_out_of_range_are_400s(client, services):
    auth = bearer(services, await member(services, 1))
    for path in ("/api/v1/credits/history", "/api/v1/credits/stats"):
        for name in ("from", "to"):
            for value in ("9" * 30, "253402300800000", "²", "2025-13-01", "yesterday"):
                r = await client.get(path, params={name: value}, headers=auth)
                assert r.status_code == 400, (path, name, value, r.status_code, r.text)
                assert r.json()["error"]["code"] == "invalid_request" and name in r.json()["error"]["message"]
    last = await client.get("/api/v1/credits/history", params={"from": "253402300799999"}, headers=auth)
    assert last.status_code == 200 and last.json()["items"] == []


async def test_routes_need_credentials_and_permissions(client, services):
    user = await member(services)
    assert (await client.get("/api/v1/credits/balance")).status_code == 401
    denied = await client.post("/api/v1/admin/credits/adjust", json={}, headers=bearer(services, user))
    assert denied.status_code == 403 and denied.json()["error"]["code"] == "forbidden"
    assert (await client.get("/api/v1/admin/credits/report", headers=bearer(services, user))).status_code == 403


async def test_admin_adjust_is_idempotent_and_audited(client, services):
    admin = await member(services, role="admin")
    user = await member(services, email="target@example.com")
    auth = bearer(services, admin, "admin")
    request = {"email": "target@example.com", "amount": "-0.25", "reason": "duplicate grant",
               "idempotency_key": "fix-1"}
    first = await client.post("/api/v1/admin/credits/adjust", json=request, headers=auth)
    again = await client.post("/api/v1/admin/credits/adjust", json=request, headers=auth)
    assert first.status_code == 200 and again.json() == first.json()
    assert first.json()["balance_after"] == "0.750000"
    too_much = await client.post("/api/v1/admin/credits/adjust", headers=auth, json={
        "user_id": user, "amount": -5, "reason": "x", "idempotency_key": "fix-2"})
    assert too_much.status_code == 402 and too_much.json()["error"]["code"] == "insufficient_credits"
    for broken in ({"user_id": user, "amount": "abc", "reason": "x", "idempotency_key": "k"},
                   {"user_id": user, "amount": "1e999999", "reason": "x", "idempotency_key": "k"},
                   {"user_id": user, "amount": "-1e999999", "reason": "x", "idempotency_key": "k"},
                   {"user_id": user, "amount": 1, "idempotency_key": "k"},
                   {"user_id": "usr_nobody", "amount": 1, "reason": "x", "idempotency_key": "k"}):
        response = await client.post("/api/v1/admin/credits/adjust", json=broken, headers=auth)
        assert response.status_code in (400, 404), (broken, response.text)
    audit = (await client.get("/api/v1/admin/credits/audit", headers=auth)).json()
    assert [(a["action"], a["target_id"], a["amount"], a["reason"], a["actor_id"]) for a in audit["items"]] == [
        ("credits.adjust", user, "-0.250000", "duplicate grant", admin)]
    async with services.db.read() as conn:
        row = (await conn.execute(text("SELECT before_json, after_json, ip FROM audit_log"))).one()
    assert '"1.000000"' in row[0] and '"0.750000"' in row[1] and row[2]


async def test_admin_bulk_is_all_or_nothing(client, services):
    admin = await member(services, role="admin")
    a, b = await member(services), await member(services)
    auth = bearer(services, admin, "admin")
    failing = {"reason": "launch promo", "items": [
        {"user_id": a, "amount": 5, "idempotency_key": "bulk-a"},
        {"user_id": b, "amount": -50, "idempotency_key": "bulk-b"},
    ]}
    refused = await client.post("/api/v1/admin/credits/bulk", json=failing, headers=auth)
    assert refused.status_code == 402
    assert (await services.ledger.balance(a)).balance == C  # nothing moved
    failing["items"][1]["amount"] = 2
    done = await client.post("/api/v1/admin/credits/bulk", json=failing, headers=auth)
    assert done.status_code == 200 and [i["balance_after"] for i in done.json()["items"]] == ["6.000000", "3.000000"]
    again = await client.post("/api/v1/admin/credits/bulk", json=failing, headers=auth)
    assert again.json() == done.json()
    assert (await services.ledger.balance(a)).balance == 6 * C
    audit = (await client.get("/api/v1/admin/credits/audit", headers=auth)).json()
    assert len(audit["items"]) == 2
    assert await services.ledger.check() == []


async def test_admin_report_in_json_and_csv(client, services):
    admin = await member(services, role="admin")
    user = await member(services, 3, email="reported@example.com")
    principal = Principal(user, "", "user", frozenset({"tools:chat"}), "jwt")

    async def work() -> tuple[str, Usage]:
        return "ok", Usage(cost=C)

    await services.meter.run(principal, tool="chat", permission="tools:chat", model="demo-chat", estimate=C,
                             work=work)
    auth = bearer(services, admin, "admin")
    rows = (await client.get("/api/v1/admin/credits/report", headers=auth)).json()["rows"]
    mine = {(r["type"], r["kind"], r["amount"]) for r in rows if r["email"] == "reported@example.com"}
    assert mine == {("spend", "usage", "1.000000"), ("grant", "grant", "1.000000"), ("grant", "purchase", "3.000000")}
    response = await client.get("/api/v1/admin/credits/report?format=csv", headers=auth)
    assert response.headers["content-type"].startswith("text/csv")
    parsed = list(csv.DictReader(io.StringIO(response.text)))
    assert {r["amount"] for r in parsed if r["email"] == "reported@example.com"} == {"1.000000", "3.000000"}
    bad = await client.get("/api/v1/admin/credits/report?from=2030-01-01&to=2020-01-01", headers=auth)
    assert bad.status_code == 400
    # An email a spreadsheet would run as a formula arrives as text (a leading quote).
    formula = await member(services, 2, email="=1+2@example.com")
    assert formula
    response = await client.get("/api/v1/admin/credits/report?format=csv", headers=auth)
    emails = {r["email"] for r in csv.DictReader(io.StringIO(response.text))}
    assert "'=1+2@example.com" in emails and "=1+2@example.com" not in emails


async def test_the_sweeper_runs_with_the_app(make_config, db):
    import anyio

    from smarthub_mcp.app import build_app
    from tests.conftest import running_app

    services = build_services(make_config(SMARTHUB_BILLING__SWEEP_INTERVAL_SECONDS="0.05"))
    user = await member(services, 5)
    hold = await services.ledger.reserve(user, C, ttl_seconds=5, idempotency_key="stale")
    async with db.write() as conn:  # make it look old: a hold left by a crashed replica
        await conn.execute(text("UPDATE holds SET expires_at = 0 WHERE id = :h"), {"h": hold.id})
    async with running_app(build_app(services=services)):
        with anyio.fail_after(10):
            # the sweeper is a background task with no completion signal: poll its effect, bounded
            while (await services.ledger.hold(hold.id)).status == "open":  # noqa: ASYNC110
                await anyio.sleep(0.02)
    assert (await services.ledger.hold(hold.id)).status == "expired"
