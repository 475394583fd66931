-- Prompt templates: the template (its metadata and a pointer to its current version), its
-- immutable versions, and one row per run for analytics.
--
-- owner_id NULL marks a system template (the starter set, seeded at the end of this file): public, owned by no
-- user, editable by nobody through the API, forkable by everyone.

CREATE TABLE templates (
    id              TEXT PRIMARY KEY,
    owner_id        TEXT REFERENCES users (id) ON DELETE CASCADE,
    name            TEXT NOT NULL,
    slug            TEXT NOT NULL,
    description     TEXT NOT NULL DEFAULT '',
    category        TEXT NOT NULL DEFAULT 'general',
    tags_json       TEXT NOT NULL DEFAULT '[]',     -- JSON list of lower-case tags
    visibility      TEXT NOT NULL DEFAULT 'private' CHECK (visibility IN ('private', 'public')),
    default_model   TEXT,                           -- NULL: the server's default chat model
    params_json     TEXT NOT NULL DEFAULT '{}',     -- default chat parameters (temperature, max_tokens)
    current_version INTEGER NOT NULL CHECK (current_version >= 1),
    forked_from     TEXT,                           -- source template id; no FK, the source may go
    run_count       BIGINT NOT NULL DEFAULT 0 CHECK (run_count >= 0),
    fork_count      BIGINT NOT NULL DEFAULT 0 CHECK (fork_count >= 0),
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL
);
CREATE UNIQUE INDEX templates_owner_slug ON templates (owner_id, slug);
-- NULLs are distinct in a unique index on both databases: system slugs need their own.
CREATE UNIQUE INDEX templates_system_slug ON templates (slug) WHERE owner_id IS NULL;
CREATE INDEX templates_public ON templates (visibility, run_count);
CREATE INDEX templates_owner_updated ON templates (owner_id, updated_at);

CREATE TABLE template_versions (
    template_id    TEXT NOT NULL REFERENCES templates (id) ON DELETE CASCADE,
    version        INTEGER NOT NULL CHECK (version >= 1),
    body           TEXT NOT NULL,
    variables_json TEXT NOT NULL DEFAULT '[]',     -- JSON list of variable declarations
    restored_from  INTEGER,                        -- the version this one copies, when a restore made it
    created_by     TEXT,                           -- NULL for system versions
    created_at     BIGINT NOT NULL,
    PRIMARY KEY (template_id, version)
);

-- Versions are immutable: a change is a new version. (Deleting a template still removes its
-- versions through the cascade.)
-- @sqlite
CREATE TRIGGER template_versions_no_update BEFORE UPDATE ON template_versions
BEGIN
    SELECT RAISE(ABORT, 'template_versions are immutable');
END;
-- @end
-- @postgresql
CREATE FUNCTION template_versions_immutable() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'template_versions are immutable';
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER template_versions_no_update BEFORE UPDATE ON template_versions
    FOR EACH ROW EXECUTE FUNCTION template_versions_immutable();
-- @end

-- One row per run that reached the provider (validation errors are refused before any run).
-- No foreign keys: analytics outlive a deleted template.
CREATE TABLE template_runs (
    id            TEXT PRIMARY KEY,
    template_id   TEXT NOT NULL,
    version       INTEGER NOT NULL,
    user_id       TEXT NOT NULL,
    model         TEXT NOT NULL,
    status        TEXT NOT NULL CHECK (status IN ('succeeded', 'failed')),
    latency_ms    BIGINT NOT NULL DEFAULT 0 CHECK (latency_ms >= 0),
    input_tokens  BIGINT NOT NULL DEFAULT 0 CHECK (input_tokens >= 0),
    output_tokens BIGINT NOT NULL DEFAULT 0 CHECK (output_tokens >= 0),
    credits       BIGINT NOT NULL DEFAULT 0 CHECK (credits >= 0),   -- micro-credits captured
    error_code    TEXT,
    batch_id      TEXT,
    request_id    TEXT,
    created_at    BIGINT NOT NULL
);
CREATE INDEX template_runs_template ON template_runs (template_id, created_at);
CREATE INDEX template_runs_user ON template_runs (user_id, created_at);

-- The starter set: public system templates (owner_id NULL), editable only by a later migration.
-- Ids are fixed so later migrations can refer to them. 1767225600000 = 2026-01-01T00:00:00Z.
INSERT INTO templates (id, owner_id, name, slug, description, category, tags_json, visibility, default_model, params_json, current_version, created_at, updated_at)
VALUES ('tpl_starter_summarize', NULL, 'Summarize', 'summarize', 'Summarize a text in a chosen length and format.', 'writing', '["summary", "reading"]', 'public', NULL, '{}', 1, 1767225600000, 1767225600000);
INSERT INTO template_versions (template_id, version, body, variables_json, restored_from, created_by, created_at)
VALUES ('tpl_starter_summarize', 1, 'Summarize the text below for a busy reader.
Length: {{ length }}. Format: {{ format }}.
Keep names, numbers and decisions. Do not add facts that are not in the text.

Text:
"""
{{ text }}
"""', '[{"name":"text","type":"string","required":true,"description":"The text to summarize","max_length":100000},{"name":"length","type":"enum","required":false,"description":"How long the summary should be","choices":["one sentence","short","detailed"],"default":"short"},{"name":"format","type":"enum","required":false,"description":"Prose or bullet points","choices":["bullet points","prose"],"default":"bullet points"}]', NULL, NULL, 1767225600000);
INSERT INTO templates (id, owner_id, name, slug, description, category, tags_json, visibility, default_model, params_json, current_version, created_at, updated_at)
VALUES ('tpl_starter_translate', NULL, 'Translate', 'translate', 'Translate text into another language, keeping tone and formatting.', 'language', '["translation"]', 'public', NULL, '{}', 1, 1767225600000, 1767225600000);
INSERT INTO template_versions (template_id, version, body, variables_json, restored_from, created_by, created_at)
VALUES ('tpl_starter_translate', 1, 'Translate the text below into {{ target_language }}.
Keep the meaning, tone and formatting (lists, code, line breaks). Leave names and code unchanged. Reply with the translation only.
Formality: {{ formality }}

Text:
"""
{{ text }}
"""', '[{"name":"text","type":"string","required":true,"description":"The text to translate","max_length":50000},{"name":"target_language","type":"string","required":true,"description":"Language to translate into, e.g. German","max_length":60},{"name":"formality","type":"enum","required":false,"description":"Register to use","choices":["neutral","formal","informal"],"default":"neutral"}]', NULL, NULL, 1767225600000);
INSERT INTO templates (id, owner_id, name, slug, description, category, tags_json, visibility, default_model, params_json, current_version, created_at, updated_at)
VALUES ('tpl_starter_code_review', NULL, 'Code review', 'code-review', 'Review a change or a piece of code for bugs, security and clarity.', 'code', '["code", "review"]', 'public', NULL, '{}', 1, 1767225600000, 1767225600000);
INSERT INTO template_versions (template_id, version, body, variables_json, restored_from, created_by, created_at)
VALUES ('tpl_starter_code_review', 1, 'You are a careful senior {{ language }} engineer reviewing code.
Focus: {{ focus }}.
List concrete problems first (bugs, security issues, data loss, race conditions), each with the line or snippet and a suggested fix. Then list smaller improvements. Say clearly if you find nothing serious.

Code:
```
{{ code }}
```', '[{"name":"code","type":"string","required":true,"description":"The code or diff to review","max_length":100000},{"name":"language","type":"string","required":false,"description":"Programming language","max_length":40,"default":"software"},{"name":"focus","type":"string","required":false,"description":"What to pay most attention to","max_length":200,"default":"correctness, security and readability"}]', NULL, NULL, 1767225600000);
INSERT INTO templates (id, owner_id, name, slug, description, category, tags_json, visibility, default_model, params_json, current_version, created_at, updated_at)
VALUES ('tpl_starter_email_reply', NULL, 'Email reply', 'email-reply', 'Draft a reply to an email with the points you want to make.', 'writing', '["email", "communication"]', 'public', NULL, '{}', 1, 1767225600000, 1767225600000);
INSERT INTO template_versions (template_id, version, body, variables_json, restored_from, created_by, created_at)
VALUES ('tpl_starter_email_reply', 1, 'Draft a reply to the email below.
Tone: {{ tone }}.
Points the reply must make: {{ points }}
Keep it concise, and end with a clear next step. Reply with the email text only.

Email received:
"""
{{ email }}
"""', '[{"name":"email","type":"string","required":true,"description":"The email you received","max_length":30000},{"name":"points","type":"string","required":true,"description":"What you want to say","max_length":2000},{"name":"tone","type":"enum","required":false,"description":"How it should sound","choices":["friendly","professional","firm","apologetic"],"default":"professional"}]', NULL, NULL, 1767225600000);
INSERT INTO templates (id, owner_id, name, slug, description, category, tags_json, visibility, default_model, params_json, current_version, created_at, updated_at)
VALUES ('tpl_starter_explain_simply', NULL, 'Explain simply', 'explain-simply', 'Explain a concept to a chosen audience with an example.', 'learning', '["explain", "learning"]', 'public', NULL, '{}', 1, 1767225600000, 1767225600000);
INSERT INTO template_versions (template_id, version, body, variables_json, restored_from, created_by, created_at)
VALUES ('tpl_starter_explain_simply', 1, 'Explain {{ topic }} to {{ audience }}.
Use plain words, one concrete example and, if it helps, an analogy. Finish with a one-line summary.', '[{"name":"topic","type":"string","required":true,"description":"What to explain","max_length":500},{"name":"audience","type":"string","required":false,"description":"Who the explanation is for","max_length":100,"default":"a curious beginner"}]', NULL, NULL, 1767225600000);
INSERT INTO templates (id, owner_id, name, slug, description, category, tags_json, visibility, default_model, params_json, current_version, created_at, updated_at)
VALUES ('tpl_starter_proofread', NULL, 'Proofread', 'proofread', 'Fix spelling, grammar and clarity without changing the meaning.', 'writing', '["editing", "grammar"]', 'public', NULL, '{}', 1, 1767225600000, 1767225600000);
INSERT INTO template_versions (template_id, version, body, variables_json, restored_from, created_by, created_at)
VALUES ('tpl_starter_proofread', 1, 'Proofread the text below. Fix spelling, grammar and punctuation, and make unclear sentences clearer, without changing the meaning or the voice.
Return the corrected text, then a short list of the changes that matter.

Text:
"""
{{ text }}
"""', '[{"name":"text","type":"string","required":true,"description":"The text to proofread","max_length":50000}]', NULL, NULL, 1767225600000);
INSERT INTO templates (id, owner_id, name, slug, description, category, tags_json, visibility, default_model, params_json, current_version, created_at, updated_at)
VALUES ('tpl_starter_meeting_notes', NULL, 'Meeting notes to action items', 'meeting-notes', 'Turn meeting notes or a transcript into decisions and action items.', 'productivity', '["meetings", "summary"]', 'public', NULL, '{}', 1, 1767225600000, 1767225600000);
INSERT INTO template_versions (template_id, version, body, variables_json, restored_from, created_by, created_at)
VALUES ('tpl_starter_meeting_notes', 1, 'From the meeting notes below, write:
1. Decisions taken
2. Action items, each with an owner and a due date if one was mentioned
3. Open questions
Use only what the notes say.

Notes:
"""
{{ notes }}
"""', '[{"name":"notes","type":"string","required":true,"description":"Meeting notes or transcript","max_length":100000}]', NULL, NULL, 1767225600000);
INSERT INTO templates (id, owner_id, name, slug, description, category, tags_json, visibility, default_model, params_json, current_version, created_at, updated_at)
VALUES ('tpl_starter_commit_message', NULL, 'Commit message', 'commit-message', 'Write a conventional commit message for a diff.', 'code', '["git", "code"]', 'public', NULL, '{}', 1, 1767225600000, 1767225600000);
INSERT INTO template_versions (template_id, version, body, variables_json, restored_from, created_by, created_at)
VALUES ('tpl_starter_commit_message', 1, 'Write a git commit message for the diff below: a summary line of at most 72 characters in the imperative mood, a blank line, then a short body that says why the change was made.

Diff:
```
{{ diff }}
```', '[{"name":"diff","type":"string","required":true,"description":"The output of git diff","max_length":100000}]', NULL, NULL, 1767225600000);
