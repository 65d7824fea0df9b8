-- Per-service access (`vmail user access`): one row per service a mailbox
-- may not use. No row means every service is on, so existing users keep
-- every service and the common case stores nothing. Deleting the user
-- deletes its rows.
CREATE TABLE user_access_denied (
  user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  service TEXT NOT NULL CHECK (service IN ('imap', 'pop3', 'sieve', 'send', 'receive')),
  PRIMARY KEY (user_id, service)
) WITHOUT ROWID;
