-- Replication state of this node (issue 14), kept out of PostgreSQL like
-- `settings`: with VMAIL_DB=postgresql://… this SQLite file is the node's
-- replica of the shared tables. Rows: `cluster` = the upstream's
-- vmail_cluster id, `seq` = the last vmail_changes.seq applied here.
-- A standalone database never has a row.
CREATE TABLE replication (
  name TEXT PRIMARY KEY,
  value TEXT NOT NULL
) WITHOUT ROWID;
