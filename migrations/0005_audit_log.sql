-- The audit log (SPEC "Mail policy"): one row per committed change, written
-- in the same transaction as the change, so a rolled-back change leaves none.
-- old_value/new_value are JSON (NULL when there is none: an add has no old
-- value, a delete no new one) and never hold a password or hash.
CREATE TABLE audit_log (
  id INTEGER PRIMARY KEY,
  time TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now')),
  uid INTEGER NOT NULL,
  sudo_user TEXT,
  command TEXT NOT NULL,
  action TEXT NOT NULL,
  object TEXT NOT NULL,
  old_value TEXT CHECK (old_value IS NULL OR json_valid(old_value)),
  new_value TEXT CHECK (new_value IS NULL OR json_valid(new_value))
);

CREATE INDEX audit_log_time ON audit_log (time);
