"""The admin's rendering queue and settling by hand: a job whose outcome is unknown keeps its credits
until an admin, having checked with the provider, releases them or charges what the provider
billed; each settlement is audited with it, happens once, and is an admin's alone."""

from __future__ import annotations

from sqlalchemy import text

from smarthub_mcp.jobs import store
from smarthub_mcp.jobs.images import ImageAsk
from tests.factories import bearer, make_user_with_token
from tests.jobs.conftest import customer

PRICE = 10_000


async def stuck_job(services, principal) -> str:
    """A job left 'unknown': sent, and no answer ever came back (marked as a worker would)."""
    job = await services.jobs.create(principal, tool="generate_image", model="demo-image",
                                     ask=ImageAsk("lost", "1024x1024", 2), request_id="r")
    assert await store.move(services.db, job.id, services.jobs.owner, ("queued",), status="unknown",
                            submits=1, provider="demo-image", error_code="provider_outcome_unknown")
    return job.id


async def money(services, user_id: str) -> tuple[int, int]:
    bal = await services.ledger.balance(user_id)
    return bal.balance, bal.held


async def test_an_admin_sees_the_queue_and_settles_unknown_jobs_once(services, client):
    alice = await customer(services)
    before, _ = await money(services, alice.user_id)
    charged_job, released_job = await stuck_job(services, alice), await stuck_job(services, alice)
    assert await money(services, alice.user_id) == (before, 4 * PRICE)
    _, admin = await make_user_with_token(services, role="admin")
    _, user = await make_user_with_token(services)

    queue = await client.get("/api/v1/admin/jobs", headers=bearer(admin))
    assert queue.status_code == 200
    items = {i["job_id"]: i for i in queue.json()["items"]}
    assert set(items) == {charged_job, released_job}
    assert items[charged_job]["status"] == "unknown" and items[charged_job]["credits_held"] == "0.020000"
    assert items[charged_job]["owner_id"] == alice.user_id and items[charged_job]["provider"] == "demo-image"

    for path, body in (("/api/v1/admin/jobs", None), (f"/api/v1/admin/jobs/{charged_job}/settle",
                                                       {"action": "release", "reason": "mine now"})):
        refused = await client.request("POST" if body else "GET", path, json=body, headers=bearer(user))
        assert refused.status_code == 403

    charge = await client.post(f"/api/v1/admin/jobs/{charged_job}/settle", headers=bearer(admin),
                               json={"action": "charge", "credits": "0.015", "reason": "provider billed it"})
    assert charge.status_code == 200, charge.text
    assert charge.json()["status"] == "failed" and charge.json()["credits_charged"] == "0.015000"
    release = await client.post(f"/api/v1/admin/jobs/{released_job}/settle", headers=bearer(admin),
                                json={"action": "release", "reason": "provider says it failed"})
    assert release.status_code == 200 and release.json()["credits_charged"] == "0.000000"
    again = await client.post(f"/api/v1/admin/jobs/{released_job}/settle", headers=bearer(admin),
                              json={"action": "charge", "credits": "0.01", "reason": "twice"})
    assert again.status_code == 409
    missing = await client.post("/api/v1/admin/jobs/job_nope/settle", headers=bearer(admin),
                                json={"action": "release", "reason": "nothing"})
    assert missing.status_code == 404

    assert await money(services, alice.user_id) == (before - 15_000, 0)
    async with services.db.read() as conn:
        audit = [tuple(r) for r in await conn.execute(text(
            "SELECT action, target_id FROM audit_log WHERE target_type = 'job' ORDER BY created_at"))]
    assert audit == [("job.settle.charge", charged_job), ("job.settle.release", released_job)]
    assert (await client.get("/api/v1/admin/jobs", headers=bearer(admin))).json()["items"] == []
    everything = await client.get("/api/v1/admin/jobs?all=true", headers=bearer(admin))
    assert {i["job_id"] for i in everything.json()["items"]} == {charged_job, released_job}
    assert await services.ledger.check() == []


async def test_metrics_count_open_jobs_by_status_and_their_age(services, client):
    alice = await customer(services)
    await stuck_job(services, alice)
    _, admin = await make_user_with_token(services, role="admin")
    body = (await client.get("/metrics", headers=bearer(admin))).text
    assert 'smarthub_jobs_open{status="unknown"} 1.0' in body
    assert 'smarthub_jobs_open{status="running"} 0.0' in body
    assert "smarthub_job_oldest_open_age_seconds" in body
    assert 'smarthub_job_notices{state="pending"} 0.0' in body
