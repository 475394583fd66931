-- Reservations another process can settle: a hold remembers the model and the request it was made
-- for (its tool is `reference`, its estimate `amount`), so a job worker can write the usage row
-- from the hold id alone. One usage row per hold at most, enforced here as well as by the meter.
ALTER TABLE holds ADD COLUMN model TEXT;
ALTER TABLE holds ADD COLUMN request_id TEXT;
CREATE UNIQUE INDEX usage_events_hold ON usage_events (hold_id);
