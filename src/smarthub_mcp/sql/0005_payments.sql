-- Payments (Stripe Checkout top-ups) and promo codes. Credits move only through the ledger; these
-- tables record why, and their UNIQUE keys are the second line of defence against crediting twice.

-- One row per Checkout Session. The row is written before Stripe is called (its id is the Stripe
-- idempotency key and travels in the session metadata), so a webhook can always find it.
CREATE TABLE payments (
    id                  TEXT PRIMARY KEY,
    user_id             TEXT NOT NULL REFERENCES users (id),
    package_id          TEXT NOT NULL,
    amount_minor        BIGINT NOT NULL,                 -- what the package cost at purchase time
    currency            TEXT NOT NULL,                   -- lower-case ISO code, as Stripe sends it
    credits             BIGINT NOT NULL,                 -- micro-credits the payment buys
    status              TEXT NOT NULL DEFAULT 'pending',
    stripe_session_id   TEXT UNIQUE,                     -- NULL only until Stripe answered
    payment_intent      TEXT,
    checkout_url        TEXT,
    amount_refunded_minor BIGINT NOT NULL DEFAULT 0,
    credits_clawed_back BIGINT NOT NULL DEFAULT 0,        -- micro-credits taken back (refund/dispute)
    clawback_shortfall  BIGINT NOT NULL DEFAULT 0,        -- of which the user had already spent
    grant_entry_id      TEXT,                             -- the ledger entry that credited it
    failure_reason      TEXT,
    created_at          BIGINT NOT NULL,
    updated_at          BIGINT NOT NULL,
    paid_at             BIGINT,
    CHECK (status IN ('pending', 'paid', 'failed', 'expired', 'refunded', 'partially_refunded', 'disputed')),
    CHECK (amount_minor > 0),
    CHECK (credits > 0),
    CHECK (amount_refunded_minor >= 0),
    CHECK (credits_clawed_back >= 0 AND credits_clawed_back <= credits),
    CHECK (clawback_shortfall >= 0 AND clawback_shortfall <= credits_clawed_back)
);
CREATE INDEX payments_user ON payments (user_id, created_at);
CREATE INDEX payments_status ON payments (status, created_at);
CREATE INDEX payments_intent ON payments (payment_intent);

-- Every webhook event, once. A replay of a processed event changes nothing.
CREATE TABLE stripe_events (
    id           TEXT PRIMARY KEY,                         -- Stripe's evt_... id
    type         TEXT NOT NULL,
    payment_id   TEXT REFERENCES payments (id),
    payload      TEXT NOT NULL,
    attempts     BIGINT NOT NULL DEFAULT 0,
    received_at  BIGINT NOT NULL,
    processed_at BIGINT,                                   -- NULL: not yet handled (or it failed)
    outcome      TEXT
);
CREATE INDEX stripe_events_received ON stripe_events (received_at);

-- Users flagged by a payment dispute (an operator reviews them).
CREATE TABLE payment_flags (
    id         TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL REFERENCES users (id),
    payment_id TEXT NOT NULL UNIQUE REFERENCES payments (id),
    reason     TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX payment_flags_user ON payment_flags (user_id);

CREATE TABLE promo_codes (
    id                TEXT PRIMARY KEY,
    code              TEXT NOT NULL UNIQUE,                -- normalized: upper-case, no spaces
    description       TEXT NOT NULL DEFAULT '',
    credits           BIGINT NOT NULL,                     -- micro-credits per redemption
    max_redemptions   BIGINT,                              -- NULL: unlimited
    redemptions_count BIGINT NOT NULL DEFAULT 0,
    credits_granted   BIGINT NOT NULL DEFAULT 0,
    starts_at         BIGINT,
    expires_at        BIGINT,
    new_users_only    BOOLEAN NOT NULL DEFAULT FALSE,
    active            BOOLEAN NOT NULL DEFAULT TRUE,
    created_by        TEXT REFERENCES users (id),
    created_at        BIGINT NOT NULL,
    updated_at        BIGINT NOT NULL,
    last_redeemed_at  BIGINT,
    CHECK (credits > 0),
    CHECK (max_redemptions IS NULL OR max_redemptions > 0),
    CHECK (redemptions_count >= 0),
    CHECK (max_redemptions IS NULL OR redemptions_count <= max_redemptions),
    CHECK (starts_at IS NULL OR expires_at IS NULL OR starts_at < expires_at)
);

CREATE TABLE promo_redemptions (
    id         TEXT PRIMARY KEY,
    code_id    TEXT NOT NULL REFERENCES promo_codes (id),
    user_id    TEXT NOT NULL REFERENCES users (id),
    credits    BIGINT NOT NULL,
    entry_id   TEXT,                                       -- the ledger entry
    created_at BIGINT NOT NULL,
    UNIQUE (code_id, user_id)
);
CREATE INDEX promo_redemptions_user ON promo_redemptions (user_id);

-- Refused redemptions, counted per user over a window to stop code guessing on every replica.
CREATE TABLE promo_failures (
    id         TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL REFERENCES users (id),
    reason     TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX promo_failures_user ON promo_failures (user_id, created_at);
