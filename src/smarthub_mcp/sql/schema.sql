-- SmartHub MCP schema, version 1: the foundation.
-- Portable across SQLite and PostgreSQL: text ids made by the application, integer
-- milliseconds for time, BIGINT micro-credits for money. Later versions live beside this
-- file as NNNN_name.sql and are applied by `smarthub db upgrade`.

CREATE TABLE schema_migrations (
    version     INTEGER PRIMARY KEY,
    name        TEXT NOT NULL,
    applied_at  BIGINT NOT NULL
);

-- Every admin action: who did what to whom, with the state before and after.
CREATE TABLE audit_log (
    id          TEXT PRIMARY KEY,
    actor_id    TEXT,
    action      TEXT NOT NULL,
    target_type TEXT NOT NULL,
    target_id   TEXT,
    before_json TEXT,
    after_json  TEXT,
    ip          TEXT,
    request_id  TEXT,
    created_at  BIGINT NOT NULL
);
CREATE INDEX audit_log_created ON audit_log (created_at);
CREATE INDEX audit_log_actor ON audit_log (actor_id, created_at);
