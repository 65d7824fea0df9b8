-- PostgreSQL version of migrations/0003 (see 0001 for the rules): alias
-- domains and mailboxes that forward their mail.

CREATE TABLE alias_domains (
  domain_id bigint PRIMARY KEY DEFERRABLE INITIALLY DEFERRED
    REFERENCES domains (id) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED,
  target_id bigint NOT NULL REFERENCES domains (id) ON DELETE RESTRICT DEFERRABLE INITIALLY DEFERRED,
  CHECK (domain_id <> target_id)
);

CREATE INDEX alias_domains_target ON alias_domains (target_id);

-- keep = 1: a copy stays in the mailbox as well. forward_destinations
-- references the key, so it stays immediate.
CREATE TABLE forwards (
  user_id bigint PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED,
  keep bigint NOT NULL CHECK (keep IN (0, 1))
);

CREATE TABLE forward_destinations (
  user_id bigint NOT NULL REFERENCES forwards (user_id) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED,
  destination text NOT NULL CHECK (destination = lower(destination COLLATE "C")),
  position bigint NOT NULL,
  PRIMARY KEY (user_id, destination) DEFERRABLE INITIALLY DEFERRED
);
