"""Completion notices for jobs that end after their call returned: the user's webhook and email.

Webhook: a user registers one https URL (`PUT /api/v1/account/webhook`) and gets a secret once.
When a job of theirs settles, one delivery per (job, event) goes into `webhook_deliveries` and is
POSTed, signed, and retried with backoff until the endpoint answers 2xx (at most `MAX_ATTEMPTS`).
The signature header is `SmartHub-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "t.body">`
with the secret; `SmartHub-Event-Id` repeats the event id, so a receiver drops replays and
duplicates. URLs that resolve to private, loopback or link-local addresses are refused, at
registration and again at each delivery; each connection is also checked for the address it
reached, which catches a name that rebinds after the check. `[jobs] webhook_allow_private` lifts
all of that, for tests.

Email: with `[jobs] email_on_completion`, the owner of a job that ends after its call stopped
waiting gets a short email with its status and where to see it.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import secrets
import time
from typing import Any
from urllib.parse import urlsplit

import httpx

from smarthub_mcp.db import Database, cached_text
from smarthub_mcp.errors import InvalidRequest, log_failure
from smarthub_mcp.identity.users import email_of
from smarthub_mcp.ids import new_id, now_ms
from smarthub_mcp.jobs.store import Job
from smarthub_mcp.netguard import AddressRefused, connect_guard, resolves_publicly
from smarthub_mcp.services import Services
from smarthub_mcp.tls import client_tls

log = logging.getLogger("smarthub.jobs")
MAX_ATTEMPTS = 8
BACKOFF_SECONDS = (10, 30, 120, 600, 1800, 3600, 6 * 3600)
TIMEOUT_SECONDS = 10.0
BATCH = 20


async def check_url(url: str, *, allow_private: bool) -> str:
    """`url` when it is an https URL (http only with `allow_private`) whose host resolves only to
    public addresses; InvalidRequest otherwise."""
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname or len(url) > 2000:
        raise InvalidRequest("the webhook URL must be an https:// URL", details={"field": "url"})
    if parts.scheme == "http" and not allow_private:
        raise InvalidRequest("the webhook URL must use https", details={"field": "url"})
    if allow_private:
        return url
    try:
        async with asyncio.timeout(TIMEOUT_SECONDS):
            public = await resolves_publicly(parts.hostname, parts.port or 443)
    except (OSError, TimeoutError, ValueError):
        raise InvalidRequest("the webhook URL's host does not resolve", details={"field": "url"}) from None
    if not public:
        raise InvalidRequest("the webhook URL points at a private address", details={"field": "url"})
    return url


async def set_webhook(services: Services, user_id: str, url: str) -> str:
    """Register (or replace) the user's webhook; returns its new signing secret (shown once)."""
    await check_url(url, allow_private=services.settings.jobs.webhook_allow_private)
    secret = "whsec_" + secrets.token_urlsafe(32)
    now = now_ms()
    async with services.db.write() as conn:
        await conn.execute(cached_text(
            "INSERT INTO user_webhooks (user_id, url, secret, created_at, updated_at) VALUES (:u, :url, :s, :now, :now)"
            " ON CONFLICT (user_id) DO UPDATE SET url = excluded.url, secret = excluded.secret,"
            " updated_at = excluded.updated_at"), {"u": user_id, "url": url, "s": secret, "now": now})
    return secret


async def get_webhook(db: Database, user_id: str) -> tuple[str, str] | None:
    row = await db.fetch_one("SELECT url, secret FROM user_webhooks WHERE user_id = :u", {"u": user_id})
    return (row.url, row.secret) if row is not None else None


async def delete_webhook(db: Database, user_id: str) -> None:
    async with db.write() as conn:
        await conn.execute(cached_text("DELETE FROM user_webhooks WHERE user_id = :u"), {"u": user_id})


def payload(job: Job, event_id: str) -> dict[str, Any]:
    return {"id": event_id, "type": f"job.{job.status}", "created": int(time.time()),
            "data": {"job_id": job.id, "status": job.status, "kind": job.kind, "model": job.model,
                     "delivered": job.delivered, "credits_charged_micro": job.charged or 0,
                     "error_code": job.error_code}}


async def on_settled(services: Services, job: Job) -> None:
    """Queue the job's webhook delivery (once per job and event) and, if configured, email its owner."""
    hook = await get_webhook(services.db, job.owner_id)
    if hook is not None:
        event_id = new_id("evt")
        now = now_ms()
        async with services.db.write() as conn:
            await conn.execute(cached_text(
                "INSERT INTO webhook_deliveries (id, user_id, job_id, event, payload, next_attempt_at, created_at)"
                " VALUES (:id, :u, :j, :e, :p, :now, :now) ON CONFLICT (job_id, event) DO NOTHING"),
                {"id": event_id, "u": job.owner_id, "j": job.id, "e": f"job.{job.status}",
                 "p": json.dumps(payload(job, event_id), separators=(",", ":")), "now": now})
    config = services.settings.jobs
    outlived_call = (job.settled_at or 0) - job.created_at > config.wait_seconds * 1000
    if config.email_on_completion and outlived_call:
        async with services.db.read() as conn:
            email = await email_of(conn, job.owner_id)
        if email is not None:
            base = services.settings.server.public_base_url.rstrip("/")
            body = (f"Your {job.kind} job {job.id} ({job.model}) has {job.status}.\n"
                    f"See it with get_job, or at {base}/api/v1/jobs/{job.id}.\n")
            await services.mailer(services, email, f"Your {job.kind} job has {job.status}", body)


async def delivery_stats(db: Database) -> dict[str, int]:
    rows = await db.fetch("SELECT status, count(*) AS n FROM webhook_deliveries WHERE status IN ('pending', 'dead')"
                          " GROUP BY status")
    return {r.status: int(r.n) for r in rows}


def signature(secret: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


async def deliver_due(services: Services, client: httpx.AsyncClient) -> int:
    """One pass over due deliveries: claim each (compare-and-set on attempts, which also pushes the
    next attempt out, a lease), POST it, record the outcome. Returns how many were delivered."""
    now = now_ms()
    rows = await services.db.fetch(
        "SELECT d.id, d.attempts, d.payload, w.url, w.secret FROM webhook_deliveries d JOIN user_webhooks w"
        " ON w.user_id = d.user_id WHERE d.status = 'pending' AND d.next_attempt_at <= :now"
        " ORDER BY d.next_attempt_at LIMIT :n", {"now": now, "n": BATCH})
    delivered = 0
    for row in rows:
        backoff = BACKOFF_SECONDS[min(row.attempts, len(BACKOFF_SECONDS) - 1)]
        async with services.db.write() as conn:
            claimed = (await conn.execute(cached_text(
                "UPDATE webhook_deliveries SET attempts = attempts + 1, next_attempt_at = :next"
                " WHERE id = :id AND attempts = :a AND status = 'pending'"),
                {"next": now + backoff * 1000, "id": row.id, "a": row.attempts})).rowcount == 1
        if claimed:
            delivered += await _send(services, client, row)
    return delivered


async def _send(services: Services, client: httpx.AsyncClient, row: Any) -> int:
    body = row.payload.encode()
    status: int | None = None
    error: str | None = None
    try:
        allow_private = services.settings.jobs.webhook_allow_private
        await check_url(row.url, allow_private=allow_private)
        event_id = json.loads(row.payload)["id"]
        response = await client.post(row.url, content=body, headers={
            "Content-Type": "application/json", "SmartHub-Event-Id": event_id,
            "SmartHub-Signature": signature(row.secret, int(time.time()), body)},
            extensions=None if allow_private else connect_guard())
        status = response.status_code
    except (httpx.HTTPError, InvalidRequest, AddressRefused) as exc:
        error = type(exc).__name__
    ok = status is not None and 200 <= status < 300
    dead = not ok and row.attempts + 1 >= MAX_ATTEMPTS
    async with services.db.write() as conn:
        await conn.execute(cached_text(
            "UPDATE webhook_deliveries SET status = :s, last_status = :code, last_error = :err,"
            " delivered_at = :at WHERE id = :id"),
            {"s": "delivered" if ok else ("dead" if dead else "pending"), "code": status, "err": error,
             "at": now_ms() if ok else None, "id": row.id})
    if dead:
        log.warning("webhook delivery %s gave up after %d attempts (%s)", row.id, MAX_ATTEMPTS, error or status)
    return 1 if ok else 0


async def run_deliveries(services: Services, stop: asyncio.Event, interval: float = 2.0) -> None:
    """Deliver due webhooks until `stop` is set (every replica may run this)."""
    async with httpx.AsyncClient(timeout=TIMEOUT_SECONDS, follow_redirects=False, trust_env=False,
                                 verify=client_tls()) as client:  # no proxy: connections are checked
        while not stop.is_set():
            try:
                await deliver_due(services, client)
            except Exception as exc:
                log_failure(log, "webhook delivery pass failed; retrying next interval", exc)
            try:
                await asyncio.wait_for(stop.wait(), interval)
            except TimeoutError:
                pass
