-- What a user typed for a template's short text and number variables lately, offered back first by
-- MCP completions (tools/completions.py). Owned by templates/recent.py: the owner's own values only,
-- at most RECENT_KEPT per variable, short single-line values only.
CREATE TABLE template_recent_values (
    user_id      TEXT NOT NULL,
    template_id  TEXT NOT NULL,
    variable     TEXT NOT NULL,
    value        TEXT NOT NULL,
    used_at      BIGINT NOT NULL,
    PRIMARY KEY (user_id, template_id, variable, value)
);
CREATE INDEX template_recent_values_recent ON template_recent_values (user_id, template_id, variable, used_at);
