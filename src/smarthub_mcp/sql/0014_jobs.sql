-- Generation jobs (images now, video next): durable work that holds credits after the call that
-- started it has returned. Owned by jobs/store.py; the rules are in jobs/__init__.py.
--
-- A job row is inserted in the same transaction as its hold (hold_id), so there is never a hold
-- without its job nor a job without its hold. The final state is written once: settled_at goes
-- from NULL to a time in the compare-and-set that also captures or releases the hold, and
-- hold_id is unique, so whoever gets there first (a poller, a webhook, a cancel) settles it and
-- everyone else changes nothing.
--
-- status: queued (held, not yet sent), submitting (being sent: if its worker dies now nobody
-- knows whether the provider took it), running (accepted upstream, upstream_id known), unknown
-- (outcome unknown: stays reserved, reconciled by polling or by an admin), and the final states
-- succeeded, failed, cancelled.
CREATE TABLE jobs (
    id             TEXT PRIMARY KEY,
    owner_id       TEXT NOT NULL REFERENCES users (id),
    kind           TEXT NOT NULL CHECK (kind IN ('image', 'video')),
    tool           TEXT NOT NULL,
    model          TEXT NOT NULL,
    status         TEXT NOT NULL CHECK (status IN
                       ('queued', 'submitting', 'running', 'unknown', 'succeeded', 'failed', 'cancelled')),
    request        TEXT NOT NULL,             -- the request as JSON (prompt, size, count, seed...)
    price          TEXT NOT NULL,             -- the model's price as JSON, frozen at submit
    estimate       BIGINT NOT NULL CHECK (estimate >= 0),
    hold_id        TEXT UNIQUE,
    provider       TEXT,
    upstream_model TEXT,
    upstream_id    TEXT,
    upstream_state TEXT,                      -- JSON: what a poll or cancel needs besides upstream_id
    submits        INTEGER NOT NULL DEFAULT 0 CHECK (submits >= 0),
    polls          INTEGER NOT NULL DEFAULT 0 CHECK (polls >= 0),
    progress       INTEGER CHECK (progress IS NULL OR (progress >= 0 AND progress <= 100)),
    delivered      INTEGER NOT NULL DEFAULT 0 CHECK (delivered >= 0),
    flagged        INTEGER NOT NULL DEFAULT 0 CHECK (flagged >= 0),
    charged        BIGINT CHECK (charged IS NULL OR charged >= 0),
    error_code     TEXT,
    error_message  TEXT,
    lease_owner    TEXT,
    lease_until    BIGINT,
    next_check_at  BIGINT NOT NULL,
    deadline_at    BIGINT NOT NULL,
    request_id     TEXT,
    created_at     BIGINT NOT NULL,
    updated_at     BIGINT NOT NULL,
    settled_at     BIGINT,
    CHECK ((settled_at IS NULL) = (status IN ('queued', 'submitting', 'running', 'unknown')))
);
-- The owner's jobs, newest first (ids sort by creation).
CREATE INDEX jobs_owner ON jobs (owner_id, id);
-- What workers look for: unsettled jobs due for a step.
CREATE INDEX jobs_due ON jobs (next_check_at) WHERE settled_at IS NULL;
