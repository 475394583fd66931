-- The media library: every generated output kept in our storage, with what made it and what it
-- cost. Owned by media/library.py. job_id names the generation job (no foreign key: jobs are
-- added by their own migration and a media row outlives its job). A deleted item keeps its row
-- (deleted_at set) for the books; its stored object and preview are removed.
CREATE TABLE media (
    id            TEXT PRIMARY KEY,
    owner_id      TEXT NOT NULL REFERENCES users (id),
    job_id        TEXT,
    kind          TEXT NOT NULL CHECK (kind IN ('image', 'video')),
    prompt        TEXT NOT NULL DEFAULT '',
    model         TEXT,
    provider      TEXT,
    width         INTEGER CHECK (width IS NULL OR width > 0),
    height        INTEGER CHECK (height IS NULL OR height > 0),
    bytes         BIGINT NOT NULL CHECK (bytes >= 0),
    content_type  TEXT NOT NULL,
    cost          BIGINT NOT NULL DEFAULT 0 CHECK (cost >= 0),   -- micro-credits charged for this output
    storage_key   TEXT NOT NULL UNIQUE,
    preview_key   TEXT UNIQUE,
    created_at    BIGINT NOT NULL,
    deleted_at    BIGINT
);
-- The owner's library, newest first (ids sort by creation).
CREATE INDEX media_owner ON media (owner_id, id);
CREATE INDEX media_job ON media (job_id);
