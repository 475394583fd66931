"""Email: every message goes to the `email_outbox` table, then out through SMTP or the log.

With `SMARTHUB_SMTP_HOST` set, messages are delivered with aiosmtplib (port, credentials and
STARTTLS from the other `SMARTHUB_SMTP_*` variables); without it they are written to the log,
which is enough to follow links in development. Delivery failures are recorded on the outbox
row and logged, never raised to the caller: an email is a side effect of a request that has
otherwise succeeded. A failed row is retried later by `email_retry` (with backoff), unless it
carried a link secret: the outbox stores it redacted, so it cannot be resent and is marked
'dead' at once (the user asks for a fresh link). A row a crash left 'pending' (recorded, outcome
never written) is picked up by `email_retry` too, once older than `[email] pending_grace_seconds`.

Call `send_email` outside any `db.write()` block (it opens its own transactions).
"""

from __future__ import annotations

import logging
from email.message import EmailMessage
from email.utils import make_msgid

import aiosmtplib
from sqlalchemy import text

from smarthub_mcp.config import EmailConfig
from smarthub_mcp.ids import new_id, now_ms
from smarthub_mcp.services import Services

log = logging.getLogger("smarthub.email")
SMTP_TIMEOUT_SECONDS = 15.0
REDACTED = "[redacted]"  # what a link secret becomes in the stored body


async def send_email(
    services: Services, to: str, subject: str, body: str, *, secrets: list[str] | tuple[str, ...] = ()
) -> str:
    """Record the message, deliver it, record the outcome; returns the outbox id.

    Values in `secrets` (link tokens) are delivered but stored as `[redacted]`, so a copy of the
    outbox table is not a bag of password-reset links.
    """
    outbox_id = await record_email(services, to, subject, body, secrets=secrets)
    await first_send(services, outbox_id, to, subject, body, resendable=not secrets)
    return outbox_id


async def record_email(
    services: Services, to: str, subject: str, body: str, *, secrets: list[str] | tuple[str, ...] = ()
) -> str:
    """Write the 'pending' outbox row (secrets redacted) and return its id; nothing is sent.

    A process that stops after this and before `first_send` records an outcome leaves exactly
    this row behind, for the retry worker's stale-pending recovery.
    """
    stored = body
    for value in secrets:
        stored = stored.replace(value, REDACTED)
    outbox_id = new_id("eml")
    async with services.db.write() as conn:
        await conn.execute(
            text(
                "INSERT INTO email_outbox (id, recipient, subject, body, status, attempts, created_at)"
                " VALUES (:id, :to, :subject, :body, 'pending', 0, :now)"
            ),
            {"id": outbox_id, "to": to, "subject": subject, "body": stored, "now": now_ms()},
        )
    return outbox_id


async def first_send(
    services: Services, outbox_id: str, to: str, subject: str, body: str, *, resendable: bool
) -> None:
    """Deliver a just-recorded email and record how it went (a failure is scheduled for retry,
    or given up at once when the stored body is not `resendable`)."""
    status, error = await deliver(services, to, subject, body)
    retry_at = None
    if status == "failed":
        retry_at = next_attempt_at(1, now_ms(), services.settings.email) if resendable else None
        status = "failed" if retry_at is not None else "dead"
    async with services.db.write() as conn:
        # Only while still 'pending': a send slower than the grace period has been taken over by
        # the retry worker, whose record must not be overwritten by this late one.
        recorded = await conn.execute(
            text(
                "UPDATE email_outbox SET status = :status, attempts = attempts + 1, last_error = :error,"
                " sent_at = :sent, next_attempt_at = :retry_at WHERE id = :id AND status = 'pending'"
            ),
            {
                "status": status,
                "error": error,
                "sent": now_ms() if error is None else None,
                "retry_at": retry_at,
                "id": outbox_id,
            },
        )
    if recorded.rowcount != 1:
        log.warning(
            "email %s was taken over by the retry worker before its first send was recorded"
            " (raise [email] pending_grace_seconds above the longest send)", outbox_id
        )


def resendable(stored_body: str) -> bool:
    """Whether an outbox body can be mailed again: not if a link secret was redacted out of it.

    A body that merely contains the marker by chance is given up too: a missing email is the
    safe side of that mistake, a dead link mailed to the user is not.
    """
    return REDACTED not in stored_body


def next_attempt_at(attempts: int, failed_at: int, email: EmailConfig) -> int | None:
    """When to retry after the `attempts`-th failed send (ms), or None: give up.

    Waits grow x4 from `retry_backoff_seconds`: 30 s, 2 min, 8 min, 32 min with the defaults.
    """
    if attempts >= email.max_attempts:
        return None
    return failed_at + backoff_ms(attempts, email)


def backoff_ms(attempts: int, email: EmailConfig) -> int:
    """The wait after the `attempts`-th failed send, were another allowed."""
    return int(email.retry_backoff_seconds * 1000 * 4 ** (attempts - 1))


async def deliver(services: Services, to: str, subject: str, body: str) -> tuple[str, str | None]:
    secrets_ = services.secrets
    if not secrets_.smtp_host:
        log.info("email (no SMTP configured) to=%s subject=%s\n%s", to, subject, body)
        return "logged", None
    message = EmailMessage()
    message["From"] = services.settings.email.sender
    message["To"] = to
    message["Subject"] = subject
    message["Message-ID"] = make_msgid(domain="smarthub")
    message.set_content(body)
    try:
        await aiosmtplib.send(
            message,
            hostname=secrets_.smtp_host,
            port=secrets_.smtp_port,
            username=secrets_.smtp_username,
            password=secrets_.smtp_password,
            start_tls=secrets_.smtp_starttls,
            use_tls=False,
            timeout=SMTP_TIMEOUT_SECONDS,
        )
    except (aiosmtplib.SMTPException, OSError) as exc:
        # The class only: an SMTP reply may echo what it was sent, and neither the body nor the
        # credentials belong in the log or the outbox.
        log.warning("email delivery failed: %s", type(exc).__name__)
        return "failed", type(exc).__name__
    return "sent", None
