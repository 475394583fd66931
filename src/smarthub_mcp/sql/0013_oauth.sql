-- The OAuth 2.1 authorization server (owned by the oauth package) and the browser sign-in session.
--
-- oauth_clients: registered (DCR), admin-made and cached metadata-document (CIMD) clients. Clients
-- from config.toml are not stored. A client secret is kept only as its sha256 (secrets are random,
-- 256 bits). For a CIMD client the row is a cache of the fetched document until `expires_at`.
CREATE TABLE oauth_clients (
    client_id      TEXT PRIMARY KEY,
    kind           TEXT NOT NULL CHECK (kind IN ('dcr', 'cimd', 'admin')),
    metadata_json  TEXT NOT NULL,
    secret_hash    TEXT,
    status         TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'disabled')),
    created_by     TEXT,
    created_at     BIGINT NOT NULL,
    updated_at     BIGINT NOT NULL,
    expires_at     BIGINT
);

-- One authorization request between /authorize and the user's decision on the consent page.
CREATE TABLE oauth_requests (
    id           TEXT PRIMARY KEY,
    client_id    TEXT NOT NULL,
    params_json  TEXT NOT NULL,
    expires_at   BIGINT NOT NULL
);
CREATE INDEX oauth_requests_expiry ON oauth_requests (expires_at);

-- A grant: one user's approval of one client, the family every code, access and refresh token of
-- that approval belongs to. Revoking it (the user, refresh reuse, /revoke) ends them all at once;
-- so does a move of the user's token_generation (password change or reset, disabling).
CREATE TABLE oauth_grants (
    id            TEXT PRIMARY KEY,
    user_id       TEXT NOT NULL REFERENCES users (id),
    user_generation BIGINT NOT NULL,
    client_id     TEXT NOT NULL,
    scopes        TEXT NOT NULL,
    resource      TEXT NOT NULL,
    status        TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'revoked')),
    created_at    BIGINT NOT NULL,
    last_used_at  BIGINT,
    revoked_at    BIGINT
);
CREATE INDEX oauth_grants_user ON oauth_grants (user_id, status);
CREATE INDEX oauth_grants_client ON oauth_grants (client_id);

-- Authorization codes, single use: `used_at` is set by a compare-and-set; a second use revokes the grant.
CREATE TABLE oauth_codes (
    code_hash       TEXT PRIMARY KEY,
    grant_id        TEXT NOT NULL REFERENCES oauth_grants (id),
    redirect_uri    TEXT NOT NULL,
    code_challenge  TEXT,
    expires_at      BIGINT NOT NULL,
    used_at         BIGINT
);
CREATE INDEX oauth_codes_expiry ON oauth_codes (expires_at);

-- Rotating refresh tokens: each use marks the token 'used' and issues its successor in the grant.
CREATE TABLE oauth_refresh_tokens (
    token_hash  TEXT PRIMARY KEY,
    grant_id    TEXT NOT NULL REFERENCES oauth_grants (id),
    status      TEXT NOT NULL CHECK (status IN ('active', 'used', 'revoked')),
    expires_at  BIGINT NOT NULL,
    created_at  BIGINT NOT NULL,
    used_at     BIGINT
);
CREATE INDEX oauth_refresh_grant ON oauth_refresh_tokens (grant_id);
CREATE INDEX oauth_refresh_expiry ON oauth_refresh_tokens (expires_at);

-- The browser session the sign-in page sets (cookie `smarthub_session`), the one the dashboard uses.
CREATE TABLE web_sessions (
    token_hash  TEXT PRIMARY KEY,
    user_id     TEXT NOT NULL REFERENCES users (id),
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL,
    revoked_at  BIGINT
);
CREATE INDEX web_sessions_user ON web_sessions (user_id);

-- Accounts at other identity providers (Google) linked to ours: one row per provider subject.
CREATE TABLE user_identities (
    provider    TEXT NOT NULL,
    subject     TEXT NOT NULL,
    user_id     TEXT NOT NULL REFERENCES users (id),
    email       TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    PRIMARY KEY (provider, subject)
);
CREATE INDEX user_identities_user ON user_identities (user_id);
