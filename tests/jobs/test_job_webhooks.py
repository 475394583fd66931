"""Completion notices to a user's webhook: one signed delivery per job and event, retried until the
endpoint takes it (the same event id each time, so the receiver can drop replays), and URLs into
private networks refused, also when the name changes its address after the check."""

from __future__ import annotations

import hashlib
import hmac
import json

import httpx
from sqlalchemy import text
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from smarthub_mcp.compose import build_services, close_services
from smarthub_mcp.identity.principal import Principal
from smarthub_mcp.jobs import notices
from smarthub_mcp.tools import images as image_tools
from smarthub_mcp.tools import videos as video_tools
from smarthub_mcp.tools.registry import invoke
from tests.conftest import LiveServer
from tests.factories import bearer, make_user_with_token
from tests.fakes import rebinding_dns
from tests.fakes.rebinding_dns import Listener
from tests.jobs.test_job_notices import drive_until_settled


def receiver(answers: list[int], seen: list[tuple[dict[str, str], bytes]]) -> Starlette:
    async def hook(request: Request) -> Response:
        seen.append((dict(request.headers), await request.body()))
        return Response(status_code=answers.pop(0) if answers else 200)

    return Starlette(routes=[Route("/hook", hook, methods=["POST"])])


def verify(secret: str, headers: dict[str, str], body: bytes) -> bool:
    fields = dict(part.split("=", 1) for part in headers["smarthub-signature"].split(","))
    expected = hmac.new(secret.encode(), f"{fields['t']}.".encode() + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, fields["v1"])


async def test_a_settled_job_is_posted_signed_and_retried_until_taken(make_config, db):
    config = make_config(SMARTHUB_JOBS__WEBHOOK_ALLOW_PRIVATE="true", SMARTHUB_DATABASE__POOL_SIZE="4")
    services = build_services(config)
    user_id, _ = await make_user_with_token(services)
    seen: list[tuple[dict[str, str], bytes]] = []
    async with LiveServer(receiver([500], seen)) as hook_server:
        url = f"{hook_server.url}/hook"
        secret = await notices.set_webhook(services, user_id, url)
        assert (await notices.get_webhook(services.db, user_id)) == (url, secret)
        principal = Principal(user_id, "u@example.com", "user", frozenset({"tools:image"}), "jwt",
                              email_verified=True)
        out = await invoke(image_tools.generate_image, services, principal, {"prompt": "a fox", "model": "demo-image"},
                           request_id="t")
        assert out.status == "succeeded"
        async with httpx.AsyncClient(timeout=10) as http:
            assert await notices.deliver_due(services, http) == 0  # the endpoint answered 500
            async with services.db.write() as conn:  # the backoff has passed
                await conn.execute(text("UPDATE webhook_deliveries SET next_attempt_at = 0"))
            assert await notices.deliver_due(services, http) == 1
            assert await notices.deliver_due(services, http) == 0  # delivered: never sent again
    assert len(seen) == 2
    (first_headers, first_body), (headers, body) = seen
    assert first_body == body and first_headers["smarthub-event-id"] == headers["smarthub-event-id"]
    assert verify(secret, headers, body) and not verify("whsec_wrong", headers, body)
    event = json.loads(body)
    assert event["type"] == "job.succeeded" and event["data"]["job_id"] == out.job_id
    assert event["id"] == headers["smarthub-event-id"] and event["data"]["credits_charged_micro"] == 10_000
    async with services.db.read() as conn:
        row = (await conn.execute(text("SELECT status, attempts, last_status FROM webhook_deliveries"))).one()
    assert tuple(row) == ("delivered", 2, 200)
    await services.jobs.aclose()
    await services.db.close()


async def test_webhook_urls_into_private_networks_are_refused(services, client):
    _, token = await make_user_with_token(services)
    for url in ("http://example.com/hook", "https://127.0.0.1/hook", "https://10.1.2.3/x", "https://[::1]/x",
                "https://169.254.169.254/latest", "ftp://example.com/x", "not a url"):
        answer = await client.put("/api/v1/account/webhook", json={"url": url}, headers=bearer(token))
        assert answer.status_code == 400, url
        assert answer.json()["error"]["code"] == "invalid_request"
    assert (await client.get("/api/v1/account/webhook", headers=bearer(token))).json() == {"url": None,
                                                                                            "secret": None}


async def test_the_owner_is_emailed_when_a_job_outlives_its_call(make_config, db):
    """With `[jobs] email_on_completion`, a video the call stopped waiting for is mailed when it ends."""
    config = make_config(SMARTHUB_JOBS__EMAIL_ON_COMPLETION="true", SMARTHUB_JOBS__WAIT_SECONDS="0",
                         SMARTHUB_DATABASE__POOL_SIZE="4")
    services = build_services(config)
    user_id, _ = await make_user_with_token(services, email="owner@example.com")
    principal = Principal(user_id, "owner@example.com", "user", frozenset({"tools:video"}), "jwt",
                          email_verified=True)
    out = await invoke(video_tools.generate_video, services, principal, {"prompt": "slow", "model": "demo-video"},
                       request_id="t")
    assert out.status == "running"
    await drive_until_settled(services, out.job_id)
    async with services.db.read() as conn:
        mails = [tuple(r) for r in await conn.execute(text("SELECT recipient, subject, body FROM email_outbox"))]
    assert [(m[0], m[1]) for m in mails if "video" in m[1]] == [("owner@example.com", "Your video job has succeeded")]
    assert out.job_id in mails[-1][2]
    await services.jobs.aclose()
    await services.db.close()


def test_a_webhook_whose_name_rebinds_to_loopback_is_never_posted(make_config, db):
    # Registration and the delivery's own check both see a public address; the connection then
    # resolves to loopback and is closed before anything is sent. The attempt counts as failed.
    config = make_config(SMARTHUB_DATABASE__POOL_SIZE="2")

    async def attempt() -> tuple[int, tuple, Listener]:
        services = build_services(config)
        try:
            user_id, _ = await make_user_with_token(services)
            async with Listener() as hook:
                await notices.set_webhook(services, user_id, f"https://{rebinding_dns.NAME}:{hook.port}/hook")
                principal = Principal(user_id, "u@example.com", "user", frozenset({"tools:image"}), "jwt",
                                      email_verified=True)
                out = await invoke(image_tools.generate_image, services, principal,
                                   {"prompt": "a fox", "model": "demo-image"}, request_id="t")
                assert out.status == "succeeded"
                async with httpx.AsyncClient(timeout=10, trust_env=False) as http:
                    delivered = await notices.deliver_due(services, http)
                await hook.closed()
            async with services.db.read() as conn:
                row = tuple((await conn.execute(text(
                    "SELECT status, attempts, last_error FROM webhook_deliveries"))).one())
        finally:  # all of it: this loop closes when the test ends
            await close_services(services)
        return delivered, row, hook

    (delivered, row, hook), loop = rebinding_dns.run(attempt, public_lookups=2)
    assert loop.lookups == 3, "registration and the delivery's check passed; the connection did not"
    assert delivered == 0 and row == ("pending", 1, "AddressRefused")
    assert hook.connections == 1 and hook.received == b""
