"""Retrying failed emails against a real SMTP sink (aiosmtpd on loopback), on both databases.

The sink's port is chosen first and nothing listens there at the first send, so the send fails
for real; the sink then starts on that port. Time is injected (`now=`), never slept through.
"""

from __future__ import annotations

import asyncio
import contextlib

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import text

from smarthub_mcp.compose import serving
from smarthub_mcp.config import EmailConfig
from smarthub_mcp.identity.email import next_attempt_at, send_email
from smarthub_mcp.identity.email_retry import _claim, retry_due
from smarthub_mcp.services import Services
from tests.identity.helpers import Sink

LATER = 10**15  # a `now` after every backoff


@contextlib.contextmanager
def sink_on(port: int):
    sink = Sink()
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield sink
    finally:
        controller.stop()


async def outbox(services: Services, outbox_id: str):
    async with services.db.read() as conn:
        return (await conn.execute(
            text("SELECT status, attempts, last_error, next_attempt_at, sent_at FROM email_outbox WHERE id = :i"),
            {"i": outbox_id},
        )).one()


async def sent_by_the_background_worker(services: Services, outbox_id: str) -> str:
    """Run the services (whose retry worker makes a first pass at start-up) against a sink until
    one message arrives; return its subject once the row's outcome is on record."""
    with sink_on(services.secrets.smtp_port) as sink:
        async with serving(services):
            msg = await sink.next()
    services.db = type(services.db)(services.secrets.database_url)  # running() closed the store
    assert (await outbox(services, outbox_id)).status == "sent"
    return msg["Subject"]


async def received(sink: Sink) -> int:
    """Messages the sink holds once every finished send's hand-off to the loop has run."""
    for _ in range(3):
        await asyncio.sleep(0)
    return sink.queue.qsize()


def test_backoff_schedule_grows_four_fold_then_gives_up():
    email = EmailConfig()
    assert (email.retry_backoff_seconds, email.max_attempts) == (30.0, 5)
    assert [next_attempt_at(n, 1_000, email) for n in range(1, 6)] == [
        1_000 + 30_000, 1_000 + 120_000, 1_000 + 480_000, 1_000 + 1_920_000, None
    ]
    assert next_attempt_at(1, 0, EmailConfig(retry_backoff_seconds=2, max_attempts=1)) is None


def test_retry_settings_are_validated():
    from pydantic import ValidationError

    for bad in ({"retry_interval_seconds": 0}, {"retry_backoff_seconds": -1}, {"max_attempts": 0}):
        with pytest.raises(ValidationError):
            EmailConfig(**bad)


async def test_failed_email_is_retried_after_its_backoff_and_delivered_once(closed_port_services):
    services = closed_port_services
    outbox_id = await send_email(services, "late@example.com", "Low balance", "You have 1 credit left.")
    first = await outbox(services, outbox_id)
    assert (first.status, first.attempts) == ("failed", 1)
    assert first.last_error.isidentifier()  # the error class only, never the server's words
    due = first.next_attempt_at
    with sink_on(services.secrets.smtp_port) as sink:
        early = await retry_due(services, now=due - 1)  # backoff respected: not due yet
        assert (early.sent, early.failed, early.lost) == (0, 0, 0) and await received(sink) == 0
        assert await outbox(services, outbox_id) == first
        done = await retry_due(services, now=due)
        assert done.sent == 1
        msg = await sink.next()
        assert (msg["To"], msg["Subject"]) == ("late@example.com", "Low balance")
        assert msg.get_content().strip() == "You have 1 credit left."
        again = await retry_due(services, now=LATER)
        assert again.sent == 0 and await received(sink) == 0
    row = await outbox(services, outbox_id)
    assert (row.status, row.attempts, row.last_error, row.next_attempt_at) == ("sent", 2, None, None)
    assert row.sent_at is not None


async def test_failures_back_off_then_the_email_is_given_up(closed_port_services):
    services = closed_port_services  # max_attempts = 3
    outbox_id = await send_email(services, "x@example.com", "Hi", "body")
    row = await outbox(services, outbox_id)
    due = row.next_attempt_at
    second = await retry_due(services, now=due)
    assert (second.failed, second.dead) == (1, 0)
    row = await outbox(services, outbox_id)
    assert (row.status, row.attempts, row.next_attempt_at) == ("failed", 2, due + 120_000)
    assert (await retry_due(services, now=due + 119_999)).failed == 0  # the second wait is 2 minutes
    third = await retry_due(services, now=due + 120_000)
    assert (third.failed, third.dead) == (0, 1)
    row = await outbox(services, outbox_id)
    assert (row.status, row.attempts, row.next_attempt_at) == ("dead", 3, None)
    with sink_on(services.secrets.smtp_port) as sink:  # even a working server gets nothing now
        assert await retry_due(services, now=LATER) == type(third)()
        assert await received(sink) == 0


async def test_email_with_a_link_secret_is_given_up_at_once(closed_port_services):
    """The outbox keeps the link redacted, so resending would mail a dead link."""
    services = closed_port_services
    outbox_id = await send_email(services, "x@example.com", "Reset", "https://h/r?token=tok123", secrets=["tok123"])
    row = await outbox(services, outbox_id)
    assert (row.status, row.attempts, row.next_attempt_at) == ("dead", 1, None)
    with sink_on(services.secrets.smtp_port) as sink:
        assert (await retry_due(services, now=LATER)).sent == 0
        assert await received(sink) == 0


async def test_a_claim_is_won_once(closed_port_services):
    services = closed_port_services
    outbox_id = await send_email(services, "x@example.com", "Hi", "body")
    assert await _claim(services, outbox_id, 1, LATER) is True
    assert await _claim(services, outbox_id, 1, LATER) is False  # the same read, a second replica


async def test_racing_replicas_send_each_email_exactly_once(replicas):
    first = replicas[0]
    port = first.secrets.smtp_port
    ids = [await send_email(first, f"u{n}@example.com", f"Alert {n}", "body") for n in range(6)]
    with sink_on(port) as sink:
        passes = await asyncio.gather(*(retry_due(r, now=LATER) for r in replicas))
        assert sum(p.sent for p in passes) == 6 and sum(p.failed + p.dead for p in passes) == 0
        assert await received(sink) == 6
        subjects = sorted([(await sink.next())["Subject"] for _ in range(6)])
        assert subjects == sorted(f"Alert {n}" for n in range(6))
    assert {(await outbox(first, i)).status for i in ids} == {"sent"}
    assert {(await outbox(first, i)).attempts for i in ids} == {2}


async def test_running_services_retry_due_emails_in_the_background(closed_port_services):
    services = closed_port_services
    outbox_id = await send_email(services, "bg@example.com", "Background", "body")
    async with services.db.write() as conn:  # make it due now rather than waiting out the backoff
        await conn.execute(text("UPDATE email_outbox SET next_attempt_at = 0 WHERE id = :i"), {"i": outbox_id})
    assert await sent_by_the_background_worker(services, outbox_id) == "Background"


async def test_migration_keeps_outbox_rows_and_gives_up_old_failures(database_url):
    """0007 on a database at 0006: rows survive the SQLite rebuild; pre-retry failures go 'dead'."""
    from smarthub_mcp.db import Database
    from smarthub_mcp.migrations import available, select_dialect, split_statements, upgrade

    db = Database(database_url)
    try:
        async with db.write() as conn:
            for migration in available():
                if migration.version >= 7:
                    break
                for statement in split_statements(select_dialect(migration.sql, db.dialect)):
                    await conn.exec_driver_sql(statement)
                await conn.execute(text("INSERT INTO schema_migrations (version, name, applied_at)"
                                        " VALUES (:v, :n, 0)"), {"v": migration.version, "n": migration.name})
            for status in ("sent", "failed"):
                await conn.execute(text(
                    "INSERT INTO email_outbox (id, recipient, subject, body, status, attempts, created_at)"
                    " VALUES (:s, 'x@example.com', 's', 'b', :s, 1, 5)"), {"s": status})
        applied = [m.version for m in await upgrade(db)]
        assert applied[0] == 7 and applied == sorted(applied)  # then any later migrations
        async with db.read() as conn:
            rows = (await conn.execute(text(
                "SELECT id, status, attempts, created_at, next_attempt_at FROM email_outbox ORDER BY id"))).all()
        assert [tuple(r) for r in rows] == [("failed", "dead", 1, 5, None), ("sent", "sent", 1, 5, None)]
    finally:
        await db.close()
