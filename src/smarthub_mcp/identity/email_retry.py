"""Retrying emails: a pass over the outbox's due 'failed' and stale 'pending' rows, and the loop
that runs it.

Every replica runs the loop. A row is claimed with a compare-and-set on (status, attempts) that
also pushes `next_attempt_at` forward, so of two replicas that read the same due row only one
sends it; the other's UPDATE matches nothing. The push doubles as a lease: a replica that dies
mid-send leaves the row due again after the backoff (at-least-once across crashes, exactly once
otherwise). Only error classes are logged or stored, never bodies or credentials.

A 'pending' row older than `[email] pending_grace_seconds` was left by a process that stopped
between recording the email and recording its first send. It is claimed the same way (status
'pending' -> 'failed', attempts 0 -> 1, last_error 'Interrupted') and sent as that first send,
or, if its stored body lost a link secret to redaction, given up ('dead') without mailing a dead
link. Whether the stopped process got its send out first is unknowable, so this too is
at-least-once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Row, text

from smarthub_mcp.identity.email import backoff_ms, deliver, next_attempt_at, resendable
from smarthub_mcp.ids import now_ms
from smarthub_mcp.services import Services

log = logging.getLogger("smarthub.email")
BATCH = 50  # rows per pass and kind: a backlog drains over a few intervals instead of one long pass
INTERRUPTED = "Interrupted"  # last_error of a stale 'pending' row: its sender stopped mid-way


@dataclass
class RetryPass:
    sent: int = 0  # delivered (or logged, without SMTP)
    failed: int = 0  # failed again, rescheduled
    dead: int = 0  # given up
    lost: int = 0  # claimed by another replica first


async def retry_due(
    services: Services, *, now: int | None = None, limit: int = BATCH, stop: asyncio.Event | None = None
) -> RetryPass:
    """Send every failed email due at `now` (ms; injectable for tests) once more, and take over
    every email pending since before the grace period; with `stop` set, end after the email in
    hand (its outcome recorded) instead of starting the next."""
    now = now_ms() if now is None else now
    email = services.settings.email
    result = RetryPass()
    async with services.db.read() as conn:
        stale = (
            await conn.execute(
                text(
                    "SELECT id, recipient, subject, body, attempts FROM email_outbox"
                    " WHERE status = 'pending' AND created_at <= :cutoff ORDER BY created_at LIMIT :limit"
                ),
                {"cutoff": now - int(email.pending_grace_seconds * 1000), "limit": limit},
            )
        ).all()
        due = (
            await conn.execute(
                text(
                    "SELECT id, recipient, subject, body, attempts FROM email_outbox"
                    " WHERE status = 'failed' AND next_attempt_at <= :now ORDER BY next_attempt_at LIMIT :limit"
                ),
                {"now": now, "limit": limit},
            )
        ).all()
    for row in stale:
        if stop is not None and stop.is_set():
            break
        if not resendable(row.body):  # a link secret was redacted out: mailing it sends a dead link
            if await _give_up(services, row.id, "pending", row.attempts, error=INTERRUPTED):
                result.dead += 1
            else:
                result.lost += 1
            continue
        if not await _claim(services, row.id, row.attempts, now + backoff_ms(1, email), status="pending"):
            result.lost += 1
            continue
        await _send_claimed(services, row, 1, now, result)
    for row in due:
        if stop is not None and stop.is_set():
            break
        if row.attempts >= email.max_attempts:  # its last attempt's sender died mid-send
            if await _give_up(services, row.id, "failed", row.attempts):
                result.dead += 1
            continue
        attempt = row.attempts + 1
        # The lease: if this send fails (or we die), the row is due again at the next backoff.
        if not await _claim(services, row.id, row.attempts, now + backoff_ms(attempt, email)):
            result.lost += 1
            continue
        await _send_claimed(services, row, attempt, now, result)
    if stale or due:
        log.info("email retry pass: %s", result)
    return result


async def _send_claimed(services: Services, row: Row[Any], attempt: int, now: int, result: RetryPass) -> None:
    """Send a row this replica has claimed (now 'failed' with `attempt` attempts) and record it."""
    status, error = await deliver(services, row.recipient, row.subject, row.body)
    retry_at = next_attempt_at(attempt, now, services.settings.email) if error is not None else None
    if error is None:
        result.sent += 1
    elif retry_at is None:
        status, result.dead = "dead", result.dead + 1
    else:
        result.failed += 1
    await _record(services, row.id, attempt, status, error, retry_at)


async def _claim(
    services: Services, outbox_id: str, seen_attempts: int, lease: int, *, status: str = "failed"
) -> bool:
    """Take a row read as (`status`, `seen_attempts`): it becomes 'failed' with one more attempt
    and a lease; False if another replica (or a late first send) changed it first."""
    async with services.db.write() as conn:
        claimed = await conn.execute(
            text(
                "UPDATE email_outbox SET status = 'failed', attempts = attempts + 1, next_attempt_at = :lease,"
                " last_error = CASE WHEN status = 'pending' THEN :interrupted ELSE last_error END"
                " WHERE id = :id AND status = :status AND attempts = :seen"
            ),
            {"lease": lease, "interrupted": INTERRUPTED, "id": outbox_id, "status": status, "seen": seen_attempts},
        )
    return claimed.rowcount == 1


async def _record(
    services: Services, outbox_id: str, attempt: int, status: str, error: str | None, retry_at: int | None
) -> None:
    async with services.db.write() as conn:
        await conn.execute(
            text(
                "UPDATE email_outbox SET status = :status, last_error = :error, next_attempt_at = :retry_at,"
                " sent_at = :sent WHERE id = :id AND status = 'failed' AND attempts = :attempt"
            ),
            {
                "status": status,
                "error": error,
                "retry_at": retry_at,
                "sent": now_ms() if error is None else None,
                "id": outbox_id,
                "attempt": attempt,
            },
        )


async def _give_up(
    services: Services, outbox_id: str, seen_status: str, seen_attempts: int, *, error: str | None = None
) -> bool:
    """Mark a row read as (`seen_status`, `seen_attempts`) 'dead', unsent, keeping its last error
    unless `error` is given; False if another replica (or a late first send) changed it first."""
    async with services.db.write() as conn:
        done = await conn.execute(
            text(
                "UPDATE email_outbox SET status = 'dead', next_attempt_at = NULL,"
                " last_error = COALESCE(:error, last_error)"
                " WHERE id = :id AND status = :status AND attempts = :attempts"
            ),
            {"error": error, "id": outbox_id, "status": seen_status, "attempts": seen_attempts},
        )
    return done.rowcount == 1


async def run_retry_worker(services: Services, stop: asyncio.Event) -> None:
    """Retry due (and take over stale pending) emails every `[email] retry_interval_seconds`,
    on every replica, until `stop`.

    Shutdown sets `stop` rather than cancelling: a send that went out is then recorded before
    the store closes, instead of being left to the lease and sent a second time later.
    """
    interval = services.settings.email.retry_interval_seconds
    while not stop.is_set():
        try:
            await retry_due(services, stop=stop)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the class only: a database error's text carries the row's values
            log.warning("email retry pass failed (%s); retrying next interval", type(exc).__name__)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), interval)
