-- Identity: users, roles and their permissions, refresh tokens, API keys, email.

CREATE TABLE users (
    id             TEXT PRIMARY KEY,
    email          TEXT NOT NULL,              -- normalized: trimmed, lower-cased
    display_name   TEXT NOT NULL DEFAULT '',
    password_hash  TEXT,                        -- NULL: cannot log in with a password
    role           TEXT NOT NULL DEFAULT 'user',
    status         TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'disabled')),
    email_verified BOOLEAN NOT NULL DEFAULT FALSE,
    created_at     BIGINT NOT NULL,
    updated_at     BIGINT NOT NULL
);
CREATE UNIQUE INDEX users_email ON users (email);
