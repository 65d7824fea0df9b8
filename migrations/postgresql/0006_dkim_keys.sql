-- PostgreSQL version of migrations/0006 (see 0001 for the rules): DKIM keys
-- per domain; the private key is a file on the nodes, never a column.
CREATE TABLE dkim_keys (
  id bigint PRIMARY KEY DEFERRABLE INITIALLY DEFERRED,
  domain_id bigint NOT NULL REFERENCES domains (id) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED,
  selector text NOT NULL
    CHECK (selector = lower(selector COLLATE "C") AND length(selector) BETWEEN 1 AND 63),
  algorithm text NOT NULL CHECK (algorithm IN ('rsa', 'ed25519')),
  public_key text NOT NULL CHECK (length(public_key) > 0),
  state text NOT NULL DEFAULT 'active' CHECK (state IN ('active', 'retired')),
  created text NOT NULL DEFAULT to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
  UNIQUE (domain_id, selector) DEFERRABLE INITIALLY DEFERRED
);

-- At most one signing key per domain and algorithm. An index cannot be
-- deferred: a changeset retires the old key (an update) before it inserts
-- the new one.
CREATE UNIQUE INDEX dkim_keys_one_active ON dkim_keys (domain_id, algorithm) WHERE state = 'active';
