-- PostgreSQL version of migrations/0004 (see 0001 for the rules): one row
-- per service a mailbox may not use.
CREATE TABLE user_access_denied (
  user_id bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED,
  service text NOT NULL CHECK (service IN ('imap', 'pop3', 'sieve', 'send', 'receive')),
  PRIMARY KEY (user_id, service) DEFERRABLE INITIALLY DEFERRED
);
