-- The money core: accounts, append-only ledger entries, two-phase holds, usage events.
-- Amounts are BIGINT micro-credits (1 credit = 1,000,000). Only the Ledger class (billing/ledger*.py) writes these
-- tables (usage_events excepted: billing/meter.py). The database refuses what breaks a rule.

CREATE TABLE accounts (
    user_id             TEXT PRIMARY KEY REFERENCES users (id),
    balance             BIGINT NOT NULL DEFAULT 0,           -- sum of the account's entries
    held                BIGINT NOT NULL DEFAULT 0,           -- sum of its open holds
    overdraft_limit     BIGINT NOT NULL DEFAULT 0,
    -- Room below zero that a forced debit (a payment clawback) recorded; it never lets anyone
    -- spend (debits test balance - held + overdraft_limit), it only keeps the CHECK honest.
    debt_allowed        BIGINT NOT NULL DEFAULT 0,
    last_topup          BIGINT NOT NULL DEFAULT 0,           -- amount of the last grant/purchase/promo
    low_balance_alerted BOOLEAN NOT NULL DEFAULT FALSE,      -- one email per crossing
    created_at          BIGINT NOT NULL,
    updated_at          BIGINT NOT NULL,
    CHECK (held >= 0),
    CHECK (overdraft_limit >= 0),
    CHECK (debt_allowed >= 0),
    CHECK (last_topup >= 0),
    CHECK (balance - held + overdraft_limit + debt_allowed >= 0)
);

CREATE TABLE holds (
    id              TEXT PRIMARY KEY,
    account_id      TEXT NOT NULL REFERENCES accounts (user_id),
    amount          BIGINT NOT NULL,
    status          TEXT NOT NULL DEFAULT 'open',
    idempotency_key TEXT NOT NULL UNIQUE,
    reference       TEXT,
    expires_at      BIGINT NOT NULL,
    resolved_at     BIGINT,
    captured_amount BIGINT,
    created_at      BIGINT NOT NULL,
    CHECK (amount > 0),
    CHECK (status IN ('open', 'captured', 'released', 'expired')),
    CHECK ((status = 'open') = (resolved_at IS NULL)),
    CHECK ((status = 'captured') = (captured_amount IS NOT NULL)),
    CHECK (captured_amount IS NULL OR (captured_amount >= 0 AND captured_amount <= amount))
);
CREATE INDEX holds_open_expiry ON holds (status, expires_at);
CREATE INDEX holds_account ON holds (account_id, status);

CREATE TABLE ledger_entries (
    id              TEXT PRIMARY KEY,
    account_id      TEXT NOT NULL REFERENCES accounts (user_id),
    amount          BIGINT NOT NULL,                          -- signed
    kind            TEXT NOT NULL,
    reference       TEXT,
    actor_id        TEXT REFERENCES users (id),
    memo            TEXT,
    idempotency_key TEXT NOT NULL UNIQUE,
    hold_id         TEXT UNIQUE REFERENCES holds (id),        -- a hold is captured into one entry
    refund_of       TEXT UNIQUE REFERENCES ledger_entries (id), -- a usage entry is refunded once
    balance_after   BIGINT NOT NULL,
    created_at      BIGINT NOT NULL,
    CHECK (amount <> 0),
    CHECK (kind IN ('grant', 'purchase', 'promo', 'usage', 'refund', 'adjustment', 'reversal')),
    CHECK (kind NOT IN ('grant', 'purchase', 'promo', 'refund') OR amount > 0),
    CHECK (kind NOT IN ('usage', 'reversal') OR amount < 0)
);
CREATE INDEX ledger_entries_account ON ledger_entries (account_id, id);
CREATE INDEX ledger_entries_created ON ledger_entries (created_at);

-- One row per metered tool call, whatever its outcome.
CREATE TABLE usage_events (
    id            TEXT PRIMARY KEY,
    user_id       TEXT NOT NULL REFERENCES users (id),
    tool          TEXT NOT NULL,
    model         TEXT,
    provider      TEXT,
    upstream_model TEXT,
    status        TEXT NOT NULL,                              -- ok | error | cancelled | rejected
    error_code    TEXT,
    input_tokens  BIGINT NOT NULL DEFAULT 0,
    output_tokens BIGINT NOT NULL DEFAULT 0,
    images        BIGINT NOT NULL DEFAULT 0,
    seconds       BIGINT NOT NULL DEFAULT 0,
    estimate      BIGINT NOT NULL DEFAULT 0,
    cost          BIGINT NOT NULL DEFAULT 0,
    hold_id       TEXT,
    latency_ms    BIGINT NOT NULL DEFAULT 0,
    request_id    TEXT,
    created_at    BIGINT NOT NULL,
    CHECK (cost >= 0)
);
CREATE INDEX usage_events_user ON usage_events (user_id, created_at);
CREATE INDEX usage_events_created ON usage_events (created_at);

-- Entries are never updated or deleted: mistakes are corrected by new entries.
-- @sqlite
CREATE TRIGGER ledger_entries_no_update BEFORE UPDATE ON ledger_entries
BEGIN
    SELECT RAISE(ABORT, 'ledger_entries is append-only');
END;
CREATE TRIGGER ledger_entries_no_delete BEFORE DELETE ON ledger_entries
BEGIN
    SELECT RAISE(ABORT, 'ledger_entries is append-only');
END;
-- @end
-- @postgresql
CREATE FUNCTION ledger_entries_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'ledger_entries is append-only';
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER ledger_entries_no_change BEFORE UPDATE OR DELETE ON ledger_entries
    FOR EACH ROW EXECUTE FUNCTION ledger_entries_append_only();
CREATE TRIGGER ledger_entries_no_truncate BEFORE TRUNCATE ON ledger_entries
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_entries_append_only();
-- @end
