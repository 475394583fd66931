-- Identity: users, roles and their permissions, refresh tokens, API keys, email.

-- Roles form one chain: each inherits every permission of its parent (admin > manager > user > guest).
CREATE TABLE roles (
    name        TEXT PRIMARY KEY,
    parent      TEXT REFERENCES roles (name),
    seniority   INTEGER NOT NULL,             -- for display and ordering: higher holds more
    description TEXT NOT NULL DEFAULT ''
);

-- A role's own permissions; its effective set adds its ancestors'. Admins change these rows.
CREATE TABLE role_permissions (
    role       TEXT NOT NULL REFERENCES roles (name) ON DELETE CASCADE,
    permission TEXT NOT NULL,
    PRIMARY KEY (role, permission)
);

INSERT INTO roles (name, parent, seniority, description) VALUES
    ('guest', NULL, 0, 'Try the service: chat only, tight limits'),
    ('user', 'guest', 1, 'A customer: every tool, paid in credits'),
    ('manager', 'user', 2, 'Runs the business: credits, promo codes, payments, reports, templates'),
    ('admin', 'manager', 3, 'Everything, including users and roles');

INSERT INTO role_permissions (role, permission) VALUES
    ('guest', 'tools:chat'),
    ('guest', 'credits:read'),
    ('user', 'tools:image'),
    ('user', 'tools:video'),
    ('user', 'tools:templates'),
    ('manager', 'templates:publish'),
    ('manager', 'credits:adjust'),
    ('manager', 'promo:manage'),
    ('manager', 'payments:read'),
    ('manager', 'reports:read'),
    ('admin', 'users:manage'),
    ('admin', 'roles:manage');

CREATE TABLE users (
    id                 TEXT PRIMARY KEY,
    email              TEXT NOT NULL,              -- normalized: trimmed, NFC, lower-cased
    display_name       TEXT NOT NULL DEFAULT '',
    password_hash      TEXT,                       -- NULL: cannot log in with a password
    role               TEXT NOT NULL DEFAULT 'user' REFERENCES roles (name),
    status             TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'disabled')),
    email_verified     BOOLEAN NOT NULL DEFAULT FALSE,
    token_generation   INTEGER NOT NULL DEFAULT 0, -- in every JWT (`gen`); bumping it voids them all
    created_at         BIGINT NOT NULL,
    updated_at         BIGINT NOT NULL
);
CREATE UNIQUE INDEX users_email ON users (email);

-- Refresh tokens: opaque, stored as sha256, rotated on every use. A token presented after it was
-- used means it leaked: its whole family (one login's chain of rotations) is revoked.
CREATE TABLE refresh_tokens (
    id          TEXT PRIMARY KEY,
    user_id     TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    family_id   TEXT NOT NULL,
    token_hash  TEXT NOT NULL,
    status      TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'used', 'revoked')),
    expires_at  BIGINT NOT NULL,
    created_at  BIGINT NOT NULL,
    used_at     BIGINT
);
CREATE UNIQUE INDEX refresh_tokens_hash ON refresh_tokens (token_hash);
CREATE INDEX refresh_tokens_family ON refresh_tokens (family_id);
CREATE INDEX refresh_tokens_user ON refresh_tokens (user_id);

-- Access tokens revoked before they expire (logout). Rows past `expires_at` may be deleted.
CREATE TABLE revoked_tokens (
    jti         TEXT PRIMARY KEY,
    user_id     TEXT,
    expires_at  BIGINT NOT NULL,
    revoked_at  BIGINT NOT NULL
);
CREATE INDEX revoked_tokens_expires ON revoked_tokens (expires_at);

-- API keys: `shk_` + 32 random bytes; only the sha256 and a visible prefix are kept.
CREATE TABLE api_keys (
    id           TEXT PRIMARY KEY,
    user_id      TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name         TEXT NOT NULL DEFAULT '',
    prefix       TEXT NOT NULL,
    key_hash     TEXT NOT NULL,
    scopes       TEXT,                          -- JSON list of permissions; NULL: the owner's role
    expires_at   BIGINT,
    last_used_at BIGINT,                        -- updated at most once a minute
    created_at   BIGINT NOT NULL,
    revoked_at   BIGINT
);
CREATE UNIQUE INDEX api_keys_hash ON api_keys (key_hash);
CREATE UNIQUE INDEX api_keys_prefix ON api_keys (prefix);
CREATE INDEX api_keys_user ON api_keys (user_id, created_at);

-- Single-use links sent by email (verify address, reset password), stored as sha256.
CREATE TABLE email_tokens (
    id          TEXT PRIMARY KEY,
    user_id     TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    purpose     TEXT NOT NULL CHECK (purpose IN ('verify_email', 'reset_password')),
    token_hash  TEXT NOT NULL,
    expires_at  BIGINT NOT NULL,
    used_at     BIGINT,
    created_at  BIGINT NOT NULL
);
CREATE UNIQUE INDEX email_tokens_hash ON email_tokens (token_hash);
CREATE INDEX email_tokens_user ON email_tokens (user_id, purpose);

-- Every email sent, and how it went. Secrets in bodies (link tokens) are stored redacted.
CREATE TABLE email_outbox (
    id          TEXT PRIMARY KEY,
    recipient   TEXT NOT NULL,
    subject     TEXT NOT NULL,
    body        TEXT NOT NULL,
    status      TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sent', 'logged', 'failed')),
    attempts    INTEGER NOT NULL DEFAULT 0,
    last_error  TEXT,
    created_at  BIGINT NOT NULL,
    sent_at     BIGINT
);
CREATE INDEX email_outbox_status ON email_outbox (status, created_at);

-- Failed logins per email (hashed) and per client IP, shared by every replica.
CREATE TABLE login_failures (
    bucket          TEXT PRIMARY KEY,           -- "email:<sha256>" or "ip:<address>"
    failures        INTEGER NOT NULL,
    last_failed_at  BIGINT NOT NULL,
    locked_until    BIGINT NOT NULL DEFAULT 0
);
