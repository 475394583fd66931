-- Moderation decisions, for the compliance report (flags and refusals by category, user and day).
-- Owned by moderation/records.py. The prompt itself is not kept: its category and source are enough
-- to account for a refusal, and keeping refused text would keep exactly what was refused.
CREATE TABLE moderation_events (
    id          TEXT PRIMARY KEY,
    user_id     TEXT NOT NULL,
    kind        TEXT NOT NULL,            -- chat, image, video
    decision    TEXT NOT NULL CHECK (decision IN ('refused', 'unchecked')),
    source      TEXT NOT NULL,            -- block_list, openai, unavailable
    category    TEXT,
    created_at  BIGINT NOT NULL
);
CREATE INDEX moderation_events_day ON moderation_events (created_at);
CREATE INDEX moderation_events_user ON moderation_events (user_id, created_at);
