-- Outputs held for review, and per-user moderation policy. Owned by moderation/reviews_store.py
-- (reviews) and moderation/policy.py (users); the money of a review is the jobs package's
-- (jobs/reviews.py).
--
-- A generated output that a provider flagged, or that our output check flagged, is stored but held
-- back: its media row says review = 'held' (not listed, not served), and a review row says why and
-- what approving it will charge. The price is held for it (hold_id) out of the job's own hold, in
-- the job's settling transaction, so approving can charge it and rejecting gives it back, once.
ALTER TABLE media ADD COLUMN review TEXT CHECK (review IS NULL OR review IN ('held', 'rejected'));
ALTER TABLE jobs ADD COLUMN held INTEGER NOT NULL DEFAULT 0 CHECK (held >= 0);

CREATE TABLE moderation_reviews (
    id          TEXT PRIMARY KEY,
    media_id    TEXT NOT NULL UNIQUE,
    job_id      TEXT NOT NULL,
    user_id     TEXT NOT NULL REFERENCES users (id),
    kind        TEXT NOT NULL,            -- image, video
    source      TEXT NOT NULL,            -- provider (its own content flag), moderation (our output check),
                                          -- unavailable (our check could not answer and media fail closed)
    category    TEXT,
    price       BIGINT NOT NULL CHECK (price >= 0),  -- what approving charges; what the output is worth at list price
    hold_id     TEXT UNIQUE,              -- NULL when nothing could be held (price 0, or the job's hold was gone)
    status      TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'approved', 'rejected')),
    charged     BIGINT CHECK (charged IS NULL OR charged >= 0),
    reason      TEXT,
    decided_by  TEXT,
    decided_at  BIGINT,
    created_at  BIGINT NOT NULL,
    CHECK ((decided_at IS NULL) = (status = 'pending'))
);
-- The queue (pending first, oldest first) and the report (by user and day).
CREATE INDEX moderation_reviews_queue ON moderation_reviews (status, id);
CREATE INDEX moderation_reviews_user ON moderation_reviews (user_id, created_at);
CREATE INDEX moderation_reviews_day ON moderation_reviews (created_at);

-- What an admin decided for one user: exempt from our checks, generation suspended, or flagged as
-- a repeat offender (set by the checks when a user trips them too often; cleared by an admin).
CREATE TABLE moderation_users (
    user_id     TEXT PRIMARY KEY REFERENCES users (id),
    exempt      BOOLEAN NOT NULL DEFAULT FALSE,
    suspended   BOOLEAN NOT NULL DEFAULT FALSE,
    flagged_at  BIGINT,
    trips       INTEGER NOT NULL DEFAULT 0,  -- refusals and held outputs counted when it was flagged
    note        TEXT,
    updated_by  TEXT,
    updated_at  BIGINT NOT NULL
);
CREATE INDEX moderation_users_flagged ON moderation_users (flagged_at);
