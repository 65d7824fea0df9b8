-- alias_destinations with its primary-key columns first. SQLite 3.40 (Debian
-- 12) misreads a WITHOUT ROWID table whose non-key column sits between its
-- key columns: PRAGMA integrity_check reported every row as
-- "NULL value in alias_destinations.position", so `vmail db check` failed on
-- any database with an alias. Same columns and constraints, new order.
ALTER TABLE alias_destinations RENAME TO alias_destinations_0001;

CREATE TABLE alias_destinations (
  alias_id INTEGER NOT NULL REFERENCES aliases (id) ON DELETE CASCADE,
  destination TEXT NOT NULL CHECK (destination = lower(destination)),
  position INTEGER NOT NULL,
  PRIMARY KEY (alias_id, destination)
) WITHOUT ROWID;

INSERT INTO alias_destinations (alias_id, destination, position)
  SELECT alias_id, destination, position FROM alias_destinations_0001;

DROP TABLE alias_destinations_0001;
