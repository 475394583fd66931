"""Emails a crash left 'pending' (recorded, never sent): the retry worker takes them over once
they are older than `[email] pending_grace_seconds`, against a real SMTP sink, on both databases.

`record_email` is the first half of `send_email` on its own: exactly the row a process leaves
when it stops between recording an email and sending it. Time is injected (`now=`).
"""

from __future__ import annotations

import asyncio
import logging

import pytest
from sqlalchemy import text

from smarthub_mcp.config import EmailConfig
from smarthub_mcp.identity.email import first_send, record_email
from smarthub_mcp.identity.email_retry import RetryPass, _claim, retry_due
from smarthub_mcp.services import Services
from tests.identity.test_email_retry import LATER, outbox, received, sent_by_the_background_worker, sink_on

GRACE_MS = 300_000  # the default pending_grace_seconds


async def created_at(services: Services, outbox_id: str) -> int:
    async with services.db.read() as conn:
        return (await conn.execute(text("SELECT created_at FROM email_outbox WHERE id = :i"),
                                   {"i": outbox_id})).scalar_one()


def test_grace_setting_defaults_to_minutes_and_refuses_racing_a_live_send():
    from pydantic import ValidationError

    assert EmailConfig().pending_grace_seconds == GRACE_MS / 1000
    with pytest.raises(ValidationError):
        EmailConfig(pending_grace_seconds=59)  # shorter than a slow SMTP send: it could go out twice


async def test_stale_pending_email_is_delivered_once_by_racing_replicas(replicas):
    first = replicas[0]
    port = first.secrets.smtp_port
    ids = [await record_email(first, f"p{n}@example.com", f"Receipt {n}", f"body {n}") for n in range(4)]
    stale = max([await created_at(first, i) for i in ids]) + GRACE_MS
    with sink_on(port) as sink:
        passes = await asyncio.gather(*(retry_due(r, now=stale) for r in replicas))
        assert sum(p.sent for p in passes) == 4 and sum(p.failed + p.dead for p in passes) == 0
        assert await received(sink) == 4
        messages = [await sink.next() for _ in range(4)]
        assert sorted((m["To"], m["Subject"]) for m in messages) == [
            (f"p{n}@example.com", f"Receipt {n}") for n in range(4)
        ]
        later = await asyncio.gather(*(retry_due(r, now=LATER) for r in replicas))
        assert later == [RetryPass()] * 3 and await received(sink) == 0
    for outbox_id in ids:
        row = await outbox(first, outbox_id)
        assert (row.status, row.attempts, row.last_error, row.next_attempt_at) == ("sent", 1, None, None)
        assert row.sent_at is not None


async def test_pending_email_within_the_grace_period_is_left_alone(closed_port_services):
    services = closed_port_services
    outbox_id = await record_email(services, "fresh@example.com", "Receipt", "body")
    recorded = await outbox(services, outbox_id)
    assert (recorded.status, recorded.attempts) == ("pending", 0)
    born = await created_at(services, outbox_id)
    with sink_on(services.secrets.smtp_port) as sink:
        assert await retry_due(services, now=born + GRACE_MS - 1) == RetryPass()
        assert await retry_due(services) == RetryPass()  # the real clock: seconds old at most
        assert await received(sink) == 0
        assert await outbox(services, outbox_id) == recorded
        assert (await retry_due(services, now=born + GRACE_MS)).sent == 1  # the grace period is up
        assert (await sink.next())["To"] == "fresh@example.com"


async def test_stale_pending_verification_email_goes_dead_and_nothing_is_mailed(closed_port_services):
    """Its stored link is redacted: resending it would mail a link that cannot work."""
    services = closed_port_services
    body = "Confirm your address: https://hub.example.com/verify-email?token=tok123\n\nOr send tok123."
    outbox_id = await record_email(services, "v@example.com", "Confirm your SmartHub email address", body,
                                   secrets=["tok123"])
    async with services.db.read() as conn:
        stored = (await conn.execute(text("SELECT body FROM email_outbox WHERE id = :i"), {"i": outbox_id})).scalar()
    assert "tok123" not in stored and "[redacted]" in stored
    stale = await created_at(services, outbox_id) + GRACE_MS
    with sink_on(services.secrets.smtp_port) as sink:
        assert await retry_due(services, now=stale) == RetryPass(dead=1)
        assert await retry_due(services, now=LATER) == RetryPass()
        assert await received(sink) == 0
    row = await outbox(services, outbox_id)
    assert (row.status, row.attempts, row.last_error, row.next_attempt_at, row.sent_at) == (
        "dead", 0, "Interrupted", None, None
    )


async def test_stale_pending_email_that_fails_again_is_retried_as_a_first_failure(closed_port_services):
    services = closed_port_services  # nothing listens on the SMTP port yet
    outbox_id = await record_email(services, "r@example.com", "Receipt", "body")
    stale = await created_at(services, outbox_id) + GRACE_MS
    assert await retry_due(services, now=stale) == RetryPass(failed=1)
    row = await outbox(services, outbox_id)
    assert (row.status, row.attempts, row.next_attempt_at) == ("failed", 1, stale + 30_000)
    assert row.last_error.isidentifier() and row.last_error != "Interrupted"  # the send's own error class
    with sink_on(services.secrets.smtp_port) as sink:
        assert (await retry_due(services, now=stale + 30_000)).sent == 1
        assert (await sink.next())["To"] == "r@example.com"
    assert (await outbox(services, outbox_id)).attempts == 2


async def test_a_late_first_send_and_the_takeover_record_only_once(closed_port_services, caplog):
    """A first send slower than the grace period: whichever of it and the worker settles the
    row first wins; the other changes nothing."""
    services = closed_port_services
    taken = await record_email(services, "a@example.com", "Hi", "body")
    assert await _claim(services, taken, 0, LATER, status="pending") is True
    assert await _claim(services, taken, 0, LATER, status="pending") is False  # a second replica, same read
    with caplog.at_level(logging.WARNING, logger="smarthub.email"):
        await first_send(services, taken, "a@example.com", "Hi", "body", resendable=True)  # fails: no server
    assert "taken over by the retry worker" in caplog.text
    row = await outbox(services, taken)
    assert (row.status, row.attempts, row.last_error, row.next_attempt_at) == ("failed", 1, "Interrupted", LATER)

    settled = await record_email(services, "b@example.com", "Hi", "body")
    await first_send(services, settled, "b@example.com", "Hi", "body", resendable=True)
    before = await outbox(services, settled)
    assert (before.status, before.attempts) == ("failed", 1)
    assert await _claim(services, settled, 0, LATER, status="pending") is False
    assert await outbox(services, settled) == before


async def test_running_services_take_over_a_stale_pending_email(closed_port_services):
    services = closed_port_services
    outbox_id = await record_email(services, "bg@example.com", "Left pending", "body")
    async with services.db.write() as conn:  # as if recorded an hour ago by a process since gone
        await conn.execute(text("UPDATE email_outbox SET created_at = created_at - 3600000 WHERE id = :i"),
                           {"i": outbox_id})
    assert await sent_by_the_background_worker(services, outbox_id) == "Left pending"
