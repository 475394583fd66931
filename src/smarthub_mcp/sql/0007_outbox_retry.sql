-- Retrying failed emails: when the next attempt is due, and a 'dead' status for rows given up on.
--
-- status 'failed' now means "failed, retry at next_attempt_at"; 'dead' means no more attempts
-- (max attempts reached, or the message carried a link secret that the outbox does not keep, so
-- it cannot be resent: the user asks for a fresh link instead). Failures from before retries
-- existed become 'dead': their age and content are unknown, resending them blind is worse.
--
-- Widening the status CHECK needs a table rebuild on SQLite; PostgreSQL swaps the constraint.

-- @sqlite
CREATE TABLE email_outbox_new (
    id              TEXT PRIMARY KEY,
    recipient       TEXT NOT NULL,
    subject         TEXT NOT NULL,
    body            TEXT NOT NULL,
    status          TEXT NOT NULL DEFAULT 'pending'
                    CHECK (status IN ('pending', 'sent', 'logged', 'failed', 'dead')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    last_error      TEXT,
    created_at      BIGINT NOT NULL,
    sent_at         BIGINT,
    next_attempt_at BIGINT
);
INSERT INTO email_outbox_new (id, recipient, subject, body, status, attempts, last_error, created_at, sent_at)
    SELECT id, recipient, subject, body, status, attempts, last_error, created_at, sent_at FROM email_outbox;
DROP TABLE email_outbox;
ALTER TABLE email_outbox_new RENAME TO email_outbox;
CREATE INDEX email_outbox_status ON email_outbox (status, created_at);
-- @end

-- @postgresql
ALTER TABLE email_outbox DROP CONSTRAINT IF EXISTS email_outbox_status_check;
ALTER TABLE email_outbox ADD CONSTRAINT email_outbox_status_check
    CHECK (status IN ('pending', 'sent', 'logged', 'failed', 'dead'));
ALTER TABLE email_outbox ADD COLUMN next_attempt_at BIGINT;
-- @end

UPDATE email_outbox SET status = 'dead' WHERE status = 'failed';
-- The retry worker's scan: failed rows, soonest due first.
CREATE INDEX email_outbox_due ON email_outbox (status, next_attempt_at);
