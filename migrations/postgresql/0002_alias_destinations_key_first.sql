-- Nothing to do: SQLite's 0002 rebuilt alias_destinations with its key
-- columns first (an SQLite 3.40 WITHOUT ROWID quirk); the PostgreSQL 0001
-- already creates that shape. The file keeps both histories numbered alike.
SELECT 1;
