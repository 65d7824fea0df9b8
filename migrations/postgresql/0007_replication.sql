-- PostgreSQL only (issue 14): the change log followers replay, and the
-- cluster's id. SQLite's 0007 adds the node-local `replication` table instead.
--
-- vmail_changes: one row per committed write, the SQLite session changeset of
-- the shared tables; seq orders them. NOTIFY vmail_changes wakes followers.
CREATE TABLE vmail_changes (
  seq bigserial PRIMARY KEY,
  time timestamptz NOT NULL DEFAULT now(),
  changeset bytea NOT NULL
);

-- The cluster's id, one row: a replica that holds another id resyncs fully.
CREATE TABLE vmail_cluster (
  id text PRIMARY KEY
);

CREATE UNIQUE INDEX vmail_cluster_one_row ON vmail_cluster ((true));

INSERT INTO vmail_cluster (id) VALUES (gen_random_uuid()::text);

-- DKIM private keys are shared too (SPEC: "DKIM keys ... are shared"): on a
-- node the key is a file (never a column of the replica); here it is the
-- copy every other node writes its own file from (pg/dkim_share.h).
CREATE TABLE vmail_dkim_private (
  domain text NOT NULL,
  selector text NOT NULL,
  private_key text NOT NULL CHECK (private_key LIKE '-----BEGIN %'),
  PRIMARY KEY (domain, selector)
);
