"""Outputs held for review, on both databases: 2 of 4 images flagged by the provider are stored but
held back with their price held; approving one delivers it and charges it once, rejecting one deletes
its files and returns its credits; two admins deciding at once decide once; the compliance report's
counts equal the decisions made; the ledger stays exact throughout."""

from __future__ import annotations

import asyncio
import csv
import io

from sqlalchemy import text

from smarthub_mcp.ids import now_ms
from smarthub_mcp.tools import images as image_tools
from smarthub_mcp.tools.registry import invoke
from tests.clirunner import acli
from tests.factories import bearer, make_user_with_token
from tests.jobs.conftest import customer

PRICE = 10_000  # demo-image, 1024x1024


async def money(services, user_id: str) -> tuple[int, int]:
    bal = await services.ledger.balance(user_id)
    return bal.balance, bal.held


async def flagged_job(services, principal, count: int = 4):
    """A demo job whose every second image the provider flags."""
    return await invoke(image_tools.generate_image, services, principal,
                        {"prompt": "[flag] a fox", "model": "demo-image", "count": count}, request_id="t")


async def queue(client, admin: str, **params) -> list[dict]:
    r = await client.get("/api/v1/admin/moderation", params=params, headers=bearer(admin))
    assert r.status_code == 200, r.text
    return r.json()["items"]


async def test_held_outputs_are_charged_once_when_approved_and_refunded_when_rejected(services, client, tmp_path,
                                                                                     database_url):
    alice = await customer(services)
    before, _ = await money(services, alice.user_id)
    out = await flagged_job(services, alice)
    assert (out.delivered, out.held_for_review, out.credits_charged) == (2, 2, "0.020000")
    assert await money(services, alice.user_id) == (before - 2 * PRICE, 2 * PRICE)
    listed = await client.get("/api/v1/media", headers=bearer(await token_for(services, alice)))
    assert len(listed.json()["items"]) == 2  # the held two are not the user's yet

    _, admin = await make_user_with_token(services, role="admin")
    held = await queue(client, admin)
    assert [(h["user_id"], h["job_id"], h["source"], h["category"], h["credits"]) for h in held] == [
        (alice.user_id, out.job_id, "provider", "demo", "0.010000")] * 2
    assert all(h["preview_url"] and h["url"] for h in held)
    scraped = (await client.get("/metrics", headers=bearer(admin))).text
    assert "smarthub_moderation_reviews_pending 2.0" in scraped
    preview = await client.get(held[0]["preview_url"])
    assert preview.status_code == 200 and preview.headers["content-type"].startswith("image/")
    approve, reject = held

    approved = await client.post(f"/api/v1/admin/moderation/{approve['review_id']}", headers=bearer(admin),
                                 json={"decision": "approve", "reason": "a fox, harmless"})
    assert approved.status_code == 200, approved.text
    assert (approved.json()["status"], approved.json()["credits_charged"]) == ("approved", "0.010000")
    assert await money(services, alice.user_id) == (before - 3 * PRICE, PRICE)
    again = await client.post(f"/api/v1/admin/moderation/{approve['review_id']}", headers=bearer(admin),
                              json={"decision": "approve", "reason": "twice"})
    assert again.status_code == 409 and again.json()["error"]["code"] == "conflict"
    assert await money(services, alice.user_id) == (before - 3 * PRICE, PRICE)  # charged once

    rejected = await client.post(f"/api/v1/admin/moderation/{reject['review_id']}", headers=bearer(admin),
                                 json={"decision": "reject", "reason": "not for this service"})
    assert rejected.status_code == 200 and rejected.json()["status"] == "rejected"
    assert rejected.json()["url"] is None and rejected.json()["credits_charged"] is None
    assert await money(services, alice.user_id) == (before - 3 * PRICE, 0)
    gone = await client.get(reject["url"])
    assert gone.status_code == 404  # deleted from storage
    files = sorted(p.name for p in (tmp_path / "media").rglob("*") if p.is_file())
    assert not [f for f in files if reject["media_id"] in f]

    job = await services.jobs.cancel(alice.user_id, out.job_id)  # settled: returns it as it is
    assert (job.delivered, job.held, job.charged) == (3, 0, 3 * PRICE)
    media = (await client.get("/api/v1/media", headers=bearer(await token_for(services, alice)))).json()["items"]
    assert approve["media_id"] in {m["media_id"] for m in media} and len(media) == 3
    usage = await rows(services, "SELECT tool, status, cost, images FROM usage_events WHERE user_id = :u"
                       " ORDER BY created_at", u=alice.user_id)
    assert sorted(usage) == sorted([("generate_image", "ok", 2 * PRICE, 2), ("generate_image", "ok", PRICE, 1),
                                    ("generate_image", "rejected", 0, 0)])
    audit = await rows(services, "SELECT action, target_id FROM audit_log WHERE action LIKE 'moderation.%'"
                       " ORDER BY created_at")
    assert audit == [("moderation.approved", approve["review_id"]), ("moderation.rejected", reject["review_id"])]
    assert await services.ledger.check() == []
    ran = await acli("credits", "check", env={"SMARTHUB_DATABASE_URL": database_url})
    assert ran.returncode == 0 and "no drift" in ran.stdout, ran.stdout + ran.stderr
    assert await queue(client, admin) == []
    scraped = (await client.get("/metrics", headers=bearer(admin))).text
    assert "smarthub_moderation_reviews_pending 0.0" in scraped
    assert "smarthub_moderation_oldest_review_age_seconds 0.0" in scraped
    assert {h["review_id"] for h in await queue(client, admin, status="approved")} == {approve["review_id"]}


async def test_two_admins_deciding_at_once_decide_once(services, client):
    alice = await customer(services)
    before, _ = await money(services, alice.user_id)
    await flagged_job(services, alice, count=2)
    _, admin = await make_user_with_token(services, role="admin")
    (item,) = await queue(client, admin)
    answers = await asyncio.gather(*(
        client.post(f"/api/v1/admin/moderation/{item['review_id']}", headers=bearer(admin),
                    json={"decision": decision, "reason": "racing"})
        for decision in ("approve", "reject") * 4))
    assert sorted(a.status_code for a in answers) == [200] + [409] * 7
    winner = next(a.json() for a in answers if a.status_code == 200)
    charged = PRICE if winner["status"] == "approved" else 0
    assert await money(services, alice.user_id) == (before - PRICE - charged, 0)
    assert await services.ledger.check() == []


async def test_only_admins_see_and_decide_the_queue(services, client):
    alice = await customer(services)
    await flagged_job(services, alice, count=2)
    _, admin = await make_user_with_token(services, role="admin")
    (item,) = await queue(client, admin)
    _, user = await make_user_with_token(services)
    for method, path, body in (
        ("GET", "/api/v1/admin/moderation", None),
        ("POST", f"/api/v1/admin/moderation/{item['review_id']}", {"decision": "approve", "reason": "mine"}),
        ("GET", "/api/v1/admin/moderation/report", None),
        ("GET", "/api/v1/admin/moderation/users", None),
        ("PUT", f"/api/v1/admin/moderation/users/{alice.user_id}", {"exempt": True}),
    ):
        r = await client.request(method, path, json=body, headers=bearer(user))
        assert r.status_code == 403, (path, r.text)
    missing = await client.post("/api/v1/admin/moderation/rev_00000000000000000000000000", headers=bearer(admin),
                                json={"decision": "approve", "reason": "none"})
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "review_not_found"
    bad = await client.post(f"/api/v1/admin/moderation/{item['review_id']}", headers=bearer(admin),
                            json={"decision": "maybe", "reason": "hm"})
    assert bad.status_code == 400


async def test_the_report_counts_the_decisions_made(services, client):
    alice, bob = await customer(services), await customer(services)
    await flagged_job(services, alice, count=4)
    await flagged_job(services, bob, count=2)
    _, admin = await make_user_with_token(services, role="admin")
    items = await queue(client, admin)
    assert len(items) == 3
    for item, decision in zip(items, ("approve", "reject", None), strict=True):
        if decision:
            r = await client.post(f"/api/v1/admin/moderation/{item['review_id']}", headers=bearer(admin),
                                  json={"decision": decision, "reason": "decided"})
            assert r.status_code == 200
    report = await client.get("/api/v1/admin/moderation/report", headers=bearer(admin))
    assert report.status_code == 200, report.text
    body = report.json()
    assert body["totals"]["by_decision"] == {"held": 3, "approved": 1, "rejected": 1}
    assert body["totals"]["by_user"] == {alice.user_id: 4, bob.user_id: 1}
    assert body["totals"]["by_category"] == {"demo": 5}
    assert body["not_charged"] == "0.020000"  # the rejected one and the pending one
    as_csv = await client.get("/api/v1/admin/moderation/report", params={"format": "csv"}, headers=bearer(admin))
    assert as_csv.status_code == 200 and as_csv.headers["content-type"].startswith("text/csv")
    table = list(csv.DictReader(io.StringIO(as_csv.text)))
    assert sum(int(r["count"]) for r in table) == 5
    assert {(r["user_id"], r["decision"]) for r in table} >= {(alice.user_id, "held"), (bob.user_id, "held")}
    wrong = await client.get("/api/v1/admin/moderation/report", params={"from": "2026-02-01", "to": "2026-01-01"},
                             headers=bearer(admin))
    assert wrong.status_code == 400


async def token_for(services, principal) -> str:
    """An access token for an existing customer (the factories make new users; this signs one in)."""
    return services.identity.codec.issue(user_id=principal.user_id, role=principal.role).token


async def rows(services, sql: str, **params) -> list[tuple]:
    async with services.db.read() as conn:
        return [tuple(r) for r in await conn.execute(text(sql), params)]


async def test_a_review_whose_hold_expired_is_delivered_uncharged(services, client):
    alice = await customer(services)
    before, _ = await money(services, alice.user_id)
    await flagged_job(services, alice, count=2)
    assert await money(services, alice.user_id) == (before - PRICE, PRICE)
    assert await services.meter.sweep(now_ms() + 31 * 86_400_000) == 1  # past review_hold_days
    assert await money(services, alice.user_id) == (before - PRICE, 0)
    _, admin = await make_user_with_token(services, role="admin")
    (item,) = await queue(client, admin)
    r = await client.post(f"/api/v1/admin/moderation/{item['review_id']}", headers=bearer(admin),
                          json={"decision": "approve", "reason": "late, but fine"})
    assert r.status_code == 200 and r.json()["credits_charged"] == "0.000000"
    assert await money(services, alice.user_id) == (before - PRICE, 0)
    assert await services.ledger.check() == []
