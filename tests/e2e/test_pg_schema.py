"""The PostgreSQL migrations (migrations/postgresql) yield the same logical
schema as the SQLite ones for every shared table, and PostgreSQL refuses
every row that SQLite refuses (issue 14: a follower replays into SQLite
what the writer committed to PostgreSQL, so PostgreSQL must be no looser).

Logical schema (the contract): same shared tables, column names and order,
type class (integer/text/blob), NOT NULL, primary key columns, unique column
sets, foreign keys (column -> table.column, on delete action); also the
plain indexes and the trigger names."""

import datetime
import glob
import os
import re
import sqlite3
import unittest

from harness import SOURCE_DIR, Instance
from pg import PgServer

PG_MIGRATIONS = os.path.join(SOURCE_DIR, "migrations", "postgresql")
SQLITE_MIGRATIONS = os.path.join(SOURCE_DIR, "migrations")

# Tables that exist on one side only, on purpose.
SQLITE_ONLY = {"settings", "replication"}                      # node-local
PG_ONLY = {"vmail_changes", "vmail_cluster", "vmail_schema", "vmail_dkim_private"}  # change log, cluster id, runner, shared DKIM keys

SQLITE_TYPES = {"INTEGER": "integer", "TEXT": "text", "BLOB": "blob"}
PG_TYPES = {"bigint": "integer", "integer": "integer", "text": "text", "bytea": "blob",
            "timestamp with time zone": "timestamptz"}
ON_DELETE = {"a": "NO ACTION", "r": "RESTRICT", "c": "CASCADE", "n": "SET NULL", "d": "SET DEFAULT"}


def apply_pg_migrations(pg):
    """Each file in its own transaction, in order, stopping at the first error."""
    files = sorted(glob.glob(os.path.join(PG_MIGRATIONS, "*.sql")))
    for path in files:
        with open(path) as f:
            p = pg.psql_run("BEGIN;\n" + f.read() + "\nCOMMIT;\n")
        if p.returncode != 0:
            raise AssertionError(f"{os.path.basename(path)}: {p.stderr.strip()}")
    return files


def pg_rows(pg, sql):
    """Rows of a query as tuples of strings (psql unaligned output)."""
    out = pg.psql(sql)
    return [tuple(line.split("|")) for line in out.splitlines() if line]


def sqlite_schema(path):
    """table -> logical description, from SQLite's pragmas."""
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        tables = [r[0] for r in con.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")]
        out = {}
        for t in tables:
            sql = con.execute("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?", (t,)).fetchone()[0]
            without_rowid = re.search(r"WITHOUT\s+ROWID\s*$", sql, re.I) is not None
            info = con.execute(f'PRAGMA table_info("{t}")').fetchall()  # cid, name, type, notnull, dflt, pk
            pk = tuple(r[1] for r in sorted((r for r in info if r[5]), key=lambda r: r[5]))
            # SQLite lets a primary key column hold NULL unless it is the
            # rowid (INTEGER PRIMARY KEY) or the table is WITHOUT ROWID.
            rowid_pk = len(pk) == 1 and any(r[1] == pk[0] and r[2].upper() == "INTEGER" for r in info)
            pk_not_null = without_rowid or rowid_pk
            columns = tuple((r[1], SQLITE_TYPES.get(r[2].upper(), r[2]), bool(r[3] or (r[5] and pk_not_null)))
                            for r in info)
            unique, indexes = set(), set()
            for _, name, is_unique, origin, partial in con.execute(f'PRAGMA index_list("{t}")'):
                cols = tuple(r[2] for r in con.execute(f'PRAGMA index_info("{name}")'))
                if origin == "pk":
                    continue
                if is_unique:
                    unique.add((tuple(sorted(cols)), name if partial else None))
                else:
                    indexes.add((name, cols))
            fks = {}
            for r in con.execute(f'PRAGMA foreign_key_list("{t}")'):  # id, seq, table, from, to, upd, del, match
                fks.setdefault(r[0], []).append(r)
            foreign = set()
            for rows in fks.values():
                rows.sort(key=lambda r: r[1])
                parent = rows[0][2]
                to = tuple(r[4] for r in rows)
                if None in to:  # REFERENCES parent: its primary key
                    to = tuple(r[1] for r in sorted(
                        (r for r in con.execute(f'PRAGMA table_info("{parent}")') if r[5]), key=lambda r: r[5]))
                foreign.add((tuple(r[3] for r in rows), parent, to, rows[0][6]))
            triggers = {r[0] for r in con.execute(
                "SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = ?", (t,))}
            out[t] = {"columns": columns, "primary_key": pk, "unique": unique, "indexes": indexes,
                      "foreign_keys": foreign, "triggers": triggers}
        return out
    finally:
        con.close()


PG_ATTNAMES = """array_to_string(array(
  SELECT a.attname FROM unnest({keys}::int2[]) WITH ORDINALITY k(n, o)
  JOIN pg_attribute a ON a.attrelid = {rel} AND a.attnum = k.n ORDER BY k.o), ',')"""


def pg_schema(pg):
    """table -> logical description, from information_schema and pg_catalog."""
    out = {}
    for (t,) in pg_rows(pg, "SELECT table_name FROM information_schema.tables "
                            "WHERE table_schema = 'public' AND table_type = 'BASE TABLE'"):
        out[t] = {"columns": [], "primary_key": (), "unique": set(), "indexes": set(),
                  "foreign_keys": set(), "triggers": set()}
    for t, col, typ, nullable in pg_rows(pg, """
        SELECT table_name, column_name, data_type, is_nullable FROM information_schema.columns
        WHERE table_schema = 'public' ORDER BY table_name, ordinal_position"""):
        if t in out:
            out[t]["columns"].append((col, PG_TYPES.get(typ, typ), nullable == "NO"))
    for t in out:
        out[t]["columns"] = tuple(out[t]["columns"])
    for t, name, primary, unique, partial, cols in pg_rows(pg, f"""
        SELECT c.relname, i.relname, ix.indisprimary, ix.indisunique, ix.indpred IS NOT NULL,
               {PG_ATTNAMES.format(keys='ix.indkey', rel='c.oid')}
        FROM pg_index ix JOIN pg_class c ON c.oid = ix.indrelid JOIN pg_class i ON i.oid = ix.indexrelid
        JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public'"""):
        cols = tuple(cols.split(",")) if cols else ()
        if primary == "t":
            out[t]["primary_key"] = cols
        elif unique == "t":
            out[t]["unique"].add((tuple(sorted(cols)), name if partial == "t" else None))
        else:
            out[t]["indexes"].add((name, cols))
    for t, parent, action, cols, to in pg_rows(pg, f"""
        SELECT c.relname, r.relname, con.confdeltype,
               {PG_ATTNAMES.format(keys='con.conkey', rel='con.conrelid')},
               {PG_ATTNAMES.format(keys='con.confkey', rel='con.confrelid')}
        FROM pg_constraint con JOIN pg_class c ON c.oid = con.conrelid JOIN pg_class r ON r.oid = con.confrelid
        JOIN pg_namespace n ON n.oid = c.relnamespace WHERE con.contype = 'f' AND n.nspname = 'public'"""):
        out[t]["foreign_keys"].add((tuple(cols.split(",")), parent, tuple(to.split(",")), ON_DELETE[action]))
    for t, name in pg_rows(pg, """
        SELECT c.relname, tg.tgname FROM pg_trigger tg JOIN pg_class c ON c.oid = tg.tgrelid
        JOIN pg_namespace n ON n.oid = c.relnamespace WHERE NOT tg.tgisinternal AND n.nspname = 'public'"""):
        out[t]["triggers"].add(name)
    return out


class BothStoresTestCase(unittest.TestCase):
    """A class-wide pair: an SQLite database that `vmail db migrate` created
    from nothing (cls.sqlite_db) and a PostgreSQL server migrated by the files
    (cls.pg), both holding `rows`."""

    rows = ""

    @classmethod
    def setUpClass(cls):
        cls.inst = Instance()
        cls.pg = None
        try:
            cls.inst.vmail("db", "migrate", check=0)
            cls.sqlite_db = cls.inst.db
            con = sqlite3.connect(cls.sqlite_db)
            con.executescript(cls.rows)
            con.close()
            cls.pg = PgServer()
            cls.pg_files = apply_pg_migrations(cls.pg)
            cls.pg.psql(cls.rows)
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        if cls.pg:
            cls.pg.cleanup()
        cls.inst.cleanup()


class PgSchemaTest(BothStoresTestCase):

    def test_same_numbers_and_names_as_sqlite(self):
        sqlite_files = sorted(os.path.basename(p) for p in glob.glob(os.path.join(SQLITE_MIGRATIONS, "*.sql")))
        self.assertEqual([os.path.basename(p) for p in self.pg_files], sqlite_files)

    def test_logical_schema_of_shared_tables_is_equal(self):
        lite, pg = sqlite_schema(self.sqlite_db), pg_schema(self.pg)
        self.assertEqual(set(lite) - SQLITE_ONLY - PG_ONLY, set(pg) - SQLITE_ONLY - PG_ONLY)
        self.assertEqual(set(lite) & (SQLITE_ONLY | PG_ONLY), SQLITE_ONLY, "tables only SQLite has")
        # vmail_schema is the PostgreSQL runner's; these files do not create it.
        self.assertEqual(set(pg) & (SQLITE_ONLY | PG_ONLY), PG_ONLY - {"vmail_schema"}, "tables only PostgreSQL has")
        shared = sorted(set(lite) - SQLITE_ONLY)
        self.assertIn("users", shared)
        for table in shared:
            for aspect in lite[table]:
                with self.subTest(table=table, aspect=aspect):
                    self.assertEqual(pg[table][aspect], lite[table][aspect])

    def test_pg_only_tables(self):
        pg = pg_schema(self.pg)
        self.assertEqual(pg["vmail_changes"]["columns"],
                         (("seq", "integer", True), ("time", "timestamptz", True), ("changeset", "blob", True)))
        self.assertEqual(pg["vmail_changes"]["primary_key"], ("seq",))
        self.assertEqual(pg["vmail_cluster"]["columns"], (("id", "text", True),))
        ids = pg_rows(self.pg, "SELECT id FROM vmail_cluster")
        self.assertEqual(len(ids), 1)
        self.assertRegex(ids[0][0], r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
        p = self.pg.psql_run("INSERT INTO vmail_cluster (id) VALUES ('second');")
        self.assertNotEqual(p.returncode, 0, "a second cluster id was accepted")

    def test_constraints_are_deferred_where_postgresql_allows(self):
        """Every foreign key, and every unique or primary key constraint that no
        foreign key references, is DEFERRABLE INITIALLY DEFERRED."""
        rows = pg_rows(self.pg, """
            SELECT c.relname, con.conname, con.contype, con.condeferrable, con.condeferred,
                   EXISTS (SELECT 1 FROM pg_constraint f WHERE f.contype = 'f' AND f.conindid = con.conindid)
            FROM pg_constraint con JOIN pg_class c ON c.oid = con.conrelid
            JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE n.nspname = 'public' AND con.contype IN ('f', 'u', 'p')
              AND c.relname NOT IN ('vmail_changes', 'vmail_cluster', 'vmail_schema', 'vmail_dkim_private')""")
        self.assertGreater(len(rows), 20)
        for table, name, kind, deferrable, deferred, referenced in rows:
            with self.subTest(constraint=name):
                if kind != "f" and referenced == "t":
                    self.assertEqual((deferrable, deferred), ("f", "f"))  # PostgreSQL requires it
                else:
                    self.assertEqual((deferrable, deferred), ("t", "t"), f"{table}.{name}")

    def test_timestamp_defaults_have_sqlite_form(self):
        """Text in strftime('%Y-%m-%dT%H:%M:%SZ', 'now') form, in UTC whatever
        the server's time zone."""
        created = self.pg.psql("SET TIME ZONE 'America/New_York'; BEGIN; "
                               "INSERT INTO domains (id, name) VALUES (901, 'stamp.test') RETURNING created; "
                               "ROLLBACK;").strip()
        self.assertRegex(created, r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
        con = sqlite3.connect(":memory:")
        lite = con.execute("SELECT strftime('%Y-%m-%dT%H:%M:%SZ', 'now')").fetchone()[0]
        con.close()
        form = "%Y-%m-%dT%H:%M:%SZ"
        apart = datetime.datetime.strptime(lite, form) - datetime.datetime.strptime(created, form)
        self.assertLess(abs(apart.total_seconds()), 120, f"PostgreSQL {created} vs SQLite {lite}")


# Rows both stores hold before each hostile insert.
BASE_ROWS = """
INSERT INTO domains (id, name) VALUES (1, 'example.com'), (2, 'example.org'), (3, 'alias.example');
INSERT INTO users (id, domain_id, local, address, password) VALUES (1, 1, 'a', 'a@example.com', '{X}y');
INSERT INTO aliases (id, domain_id, source) VALUES (1, 1, 'b@example.com');
INSERT INTO alias_destinations (alias_id, destination, position) VALUES (1, 'a@example.com', 0);
INSERT INTO alias_domains (domain_id, target_id) VALUES (3, 2);
INSERT INTO forwards (user_id, keep) VALUES (1, 1);
INSERT INTO forward_destinations (user_id, destination, position) VALUES (1, 'x@example.org', 0);
INSERT INTO user_access_denied (user_id, service) VALUES (1, 'pop3');
INSERT INTO dkim_keys (id, domain_id, selector, algorithm, public_key) VALUES (1, 1, 's1', 'rsa', 'AAAA');
"""

USER = "INSERT INTO users (id, domain_id, local, address, password, quota, enabled) VALUES "
DKIM = "INSERT INTO dkim_keys (id, domain_id, selector, algorithm, public_key, state) VALUES "
AUDIT = "INSERT INTO audit_log (id, uid, command, action, object, old_value, new_value) VALUES "

# (what is wrong, a statement both accept, the same statement made hostile).
# The accepted twin proves the refusal comes from the constraint named, not
# from a typo.
HOSTILE = [
    ("uppercase domain", "INSERT INTO domains (id, name) VALUES (9, 'example.net')",
     "INSERT INTO domains (id, name) VALUES (9, 'Example.NET')"),
    ("domain name too short", "INSERT INTO domains (id, name) VALUES (9, 'a.b')",
     "INSERT INTO domains (id, name) VALUES (9, 'ab')"),
    ("duplicate domain", "INSERT INTO domains (id, name) VALUES (9, 'example.net')",
     "INSERT INTO domains (id, name) VALUES (9, 'example.com')"),
    ("duplicate domain id", "INSERT INTO domains (id, name) VALUES (9, 'example.net')",
     "INSERT INTO domains (id, name) VALUES (1, 'example.net')"),
    ("bad enabled value", USER + "(9, 1, 'c', 'c@example.com', '{X}y', NULL, 0)",
     USER + "(9, 1, 'c', 'c@example.com', '{X}y', NULL, 2)"),
    ("uppercase address", USER + "(9, 1, 'c', 'c@example.com', '{X}y', NULL, 1)",
     USER + "(9, 1, 'c', 'C@example.com', '{X}y', NULL, 1)"),
    ("uppercase local part", USER + "(9, 1, 'c', 'c@example.com', '{X}y', NULL, 1)",
     USER + "(9, 1, 'C', 'c@example.com', '{X}y', NULL, 1)"),
    ("lower() is ASCII-only in both", USER + "(9, 1, 'É', 'é@example.com', '{X}y', NULL, 1)",
     USER + "(9, 1, 'É', 'Q@example.com', '{X}y', NULL, 1)"),
    ("local part too long", USER + f"(9, 1, '{'c' * 64}', 'c@example.com', '{{X}}y', NULL, 1)",
     USER + f"(9, 1, '{'c' * 65}', 'c@example.com', '{{X}}y', NULL, 1)"),
    ("password without scheme", USER + "(9, 1, 'c', 'c@example.com', '{PLAIN}x', NULL, 1)",
     USER + "(9, 1, 'c', 'c@example.com', 'x', NULL, 1)"),
    ("negative quota", USER + "(9, 1, 'c', 'c@example.com', '{X}y', 0, 1)",
     USER + "(9, 1, 'c', 'c@example.com', '{X}y', -1, 1)"),
    ("user of a missing domain", USER + "(9, 2, 'c', 'c@example.org', '{X}y', NULL, 1)",
     USER + "(9, 99, 'c', 'c@example.org', '{X}y', NULL, 1)"),
    ("duplicate address", USER + "(9, 2, 'a', 'a@example.org', '{X}y', NULL, 1)",
     USER + "(9, 2, 'a', 'a@example.com', '{X}y', NULL, 1)"),
    ("duplicate local part in a domain", USER + "(9, 2, 'a', 'a@example.org', '{X}y', NULL, 1)",
     USER + "(9, 1, 'a', 'a@example.org', '{X}y', NULL, 1)"),
    ("user name NULL", "INSERT INTO users (id, domain_id, local, address, password, name) "
     "VALUES (9, 1, 'c', 'c@example.com', '{X}y', '')",
     "INSERT INTO users (id, domain_id, local, address, password, name) "
     "VALUES (9, 1, 'c', 'c@example.com', '{X}y', NULL)"),
    ("mailbox address that is an alias source (trigger)", USER + "(9, 1, 'c', 'c@example.com', '{X}y', NULL, 1)",
     USER + "(9, 1, 'b', 'b@example.com', '{X}y', NULL, 1)"),
    ("alias source that is a mailbox (trigger)", "INSERT INTO aliases (id, domain_id, source) "
     "VALUES (9, 1, 'c@example.com')", "INSERT INTO aliases (id, domain_id, source) VALUES (9, 1, 'a@example.com')"),
    ("uppercase alias source", "INSERT INTO aliases (id, domain_id, source) VALUES (9, 1, '@example.com')",
     "INSERT INTO aliases (id, domain_id, source) VALUES (9, 1, '@Example.com')"),
    ("duplicate alias source", "INSERT INTO aliases (id, domain_id, source) VALUES (9, 1, 'c@example.com')",
     "INSERT INTO aliases (id, domain_id, source) VALUES (9, 1, 'b@example.com')"),
    ("uppercase alias destination", "INSERT INTO alias_destinations VALUES (1, 'c@example.com', 1)",
     "INSERT INTO alias_destinations VALUES (1, 'C@example.com', 1)"),
    ("duplicate alias destination", "INSERT INTO alias_destinations VALUES (1, 'c@example.com', 1)",
     "INSERT INTO alias_destinations VALUES (1, 'a@example.com', 1)"),
    ("destination of a missing alias", "INSERT INTO alias_destinations VALUES (1, 'c@example.com', 1)",
     "INSERT INTO alias_destinations VALUES (7, 'c@example.com', 1)"),
    ("alias domain of itself", "INSERT INTO alias_domains VALUES (2, 1)", "INSERT INTO alias_domains VALUES (2, 2)"),
    ("alias domain of a missing domain", "INSERT INTO alias_domains VALUES (2, 1)",
     "INSERT INTO alias_domains VALUES (2, 99)"),
    ("bad keep value", "UPDATE forwards SET keep = 0", "UPDATE forwards SET keep = 2"),
    ("forward of a missing user", "DELETE FROM forwards; INSERT INTO forwards VALUES (1, 0)",
     "DELETE FROM forwards; INSERT INTO forwards VALUES (99, 0)"),
    ("forward destination without a forward", "INSERT INTO forward_destinations VALUES (1, 'y@example.org', 1)",
     "INSERT INTO forward_destinations VALUES (9, 'y@example.org', 1)"),
    ("uppercase forward destination", "INSERT INTO forward_destinations VALUES (1, 'y@example.org', 1)",
     "INSERT INTO forward_destinations VALUES (1, 'Y@example.org', 1)"),
    ("unknown service", "INSERT INTO user_access_denied VALUES (1, 'imap')",
     "INSERT INTO user_access_denied VALUES (1, 'ftp')"),
    ("service denied twice", "INSERT INTO user_access_denied VALUES (1, 'imap')",
     "INSERT INTO user_access_denied VALUES (1, 'pop3')"),
    ("audit old_value not JSON", AUDIT + "(9, 0, 'user add', 'add', 'c@example.com', NULL, '{\"a\": 1}')",
     AUDIT + "(9, 0, 'user add', 'add', 'c@example.com', 'not json', '{\"a\": 1}')"),
    ("audit new_value not JSON", AUDIT + "(9, 0, 'user add', 'add', 'c@example.com', '[1, \"x\"]', NULL)",
     AUDIT + "(9, 0, 'user add', 'add', 'c@example.com', '[1, \"x\"]', '{\"a\": 1')"),
    ("audit without command", AUDIT + "(9, 0, 'user add', 'add', 'c@example.com', NULL, NULL)",
     AUDIT + "(9, 0, NULL, 'add', 'c@example.com', NULL, NULL)"),
    ("second active key per algorithm", DKIM + "(9, 1, 's2', 'ed25519', 'AAAA', 'active')",
     DKIM + "(9, 1, 's2', 'rsa', 'AAAA', 'active')"),
    ("reactivating a retired key beside the active one", DKIM + "(9, 1, 's2', 'rsa', 'AAAA', 'retired')",
     DKIM + "(9, 1, 's2', 'rsa', 'AAAA', 'retired'); UPDATE dkim_keys SET state = 'active' WHERE id = 9"),
    ("duplicate selector", DKIM + "(9, 1, 's2', 'rsa', 'AAAA', 'retired')",
     DKIM + "(9, 1, 's1', 'rsa', 'AAAA', 'retired')"),
    ("uppercase selector", DKIM + "(9, 2, 'sel', 'rsa', 'AAAA', 'active')",
     DKIM + "(9, 2, 'Sel', 'rsa', 'AAAA', 'active')"),
    ("unknown algorithm", DKIM + "(9, 2, 'sel', 'rsa', 'AAAA', 'active')",
     DKIM + "(9, 2, 'sel', 'dsa', 'AAAA', 'active')"),
    ("empty public key", DKIM + "(9, 2, 'sel', 'rsa', 'AAAA', 'active')",
     DKIM + "(9, 2, 'sel', 'rsa', '', 'active')"),
    ("unknown key state", DKIM + "(9, 2, 'sel', 'rsa', 'AAAA', 'retired')",
     DKIM + "(9, 2, 'sel', 'rsa', 'AAAA', 'revoked')"),
    ("deleting a domain that has users (RESTRICT)", "DELETE FROM domains WHERE id = 3",
     "DELETE FROM domains WHERE id = 1"),
    ("deleting the target of an alias domain (RESTRICT)", "DELETE FROM alias_domains; DELETE FROM domains WHERE id = 2",
     "DELETE FROM domains WHERE id = 2"),
]

# Deletes that cascade: what is left behind must be the same.
CASCADES = [
    ("DELETE FROM users WHERE id = 1",
     ["forwards", "forward_destinations", "user_access_denied"]),
    ("DELETE FROM aliases WHERE id = 1", ["alias_destinations"]),
    ("DELETE FROM domains WHERE id = 3", ["alias_domains"]),
    ("DELETE FROM users; DELETE FROM aliases; DELETE FROM domains WHERE id = 1", ["dkim_keys"]),
]


class PgConstraintsTest(BothStoresTestCase):
    """Every row SQLite refuses, PostgreSQL refuses too (and at commit at the
    latest, for deferred constraints); its accepted twin passes in both."""

    rows = BASE_ROWS

    def sqlite_run(self, sql):
        """None when SQLite commits `sql` (then rolled back), else the error."""
        con = sqlite3.connect(self.sqlite_db, isolation_level=None)
        try:
            con.execute("PRAGMA foreign_keys = ON")  # as vmail's connections do
            con.execute("BEGIN")
            try:
                for statement in sql.split(";"):
                    con.execute(statement)
                violations = con.execute("PRAGMA foreign_key_check").fetchall()
                return sqlite3.IntegrityError(f"foreign_key_check: {violations}") if violations else None
            except sqlite3.Error as e:
                return e
            finally:
                con.execute("ROLLBACK")
        finally:
            con.close()

    def pg_run(self, sql):
        """None when PostgreSQL would commit `sql` (deferred checks forced,
        then rolled back), else psql's error, SQLSTATE first."""
        p = self.pg.psql_run(f"\\set VERBOSITY verbose\nBEGIN;\n{sql};\nSET CONSTRAINTS ALL IMMEDIATE;\nROLLBACK;\n")
        return None if p.returncode == 0 else p.stderr.strip()

    def test_hostile_rows_are_refused_by_both(self):
        for what, good, bad in HOSTILE:
            with self.subTest(what):
                self.assertIsNone(self.sqlite_run(good), f"SQLite refused the accepted twin: {good}")
                # Migration 0008 makes PostgreSQL stricter than SQLite on names
                # (the row-policy grammar): a twin it refuses must be refused
                # by one of those CHECKs, never by another constraint.
                err = self.pg_run(good)
                if err is not None:
                    self.assertRegex(err, r'violates check constraint "\w+_safe"',
                                     f"PostgreSQL refused the accepted twin: {good}")
                err = self.sqlite_run(bad)
                self.assertIsInstance(err, sqlite3.IntegrityError, f"SQLite: {bad}")
                err = self.pg_run(bad)
                self.assertIsNotNone(err, f"PostgreSQL accepted: {bad}")
                # Class 23: integrity constraint violation (a trigger raises 23000).
                self.assertRegex(err, r"ERROR:  23[0-9A-Z]{3}:", f"PostgreSQL: {bad}")

    def test_deferred_constraints_are_checked_at_commit(self):
        p = self.pg.psql_run("BEGIN;\nINSERT INTO domains (id, name) VALUES (9, 'example.com');\nCOMMIT;\n")
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("domains_name_key", p.stderr)
        self.assertEqual(self.pg.psql("SELECT count(*) FROM domains WHERE id = 9").strip(), "0")
        # Any order within a transaction: the child before its parent.
        self.pg.psql("BEGIN;\nINSERT INTO users (id, domain_id, local, address, password) "
                     "VALUES (9, 9, 'c', 'c@example.net', '{X}y');\n"
                     "INSERT INTO domains (id, name) VALUES (9, 'example.net');\nROLLBACK;\n")

    def test_cascades_leave_the_same_rows(self):
        for sql, tables in CASCADES:
            with self.subTest(sql):
                query = "; ".join(f"SELECT '{t}', count(*) FROM {t}" for t in tables)
                con = sqlite3.connect(self.sqlite_db, isolation_level=None)
                try:
                    con.execute("PRAGMA foreign_keys = ON")
                    con.execute("BEGIN")
                    for statement in sql.split(";"):
                        con.execute(statement)
                    lite = [tuple(str(v) for v in con.execute(q).fetchone()) for q in query.split("; ")]
                    con.execute("ROLLBACK")
                finally:
                    con.close()
                pg = pg_rows(self.pg, f"BEGIN; {sql}; SET CONSTRAINTS ALL IMMEDIATE; {query}; ROLLBACK;")
                self.assertEqual(pg, lite)
                self.assertEqual(lite, [(t, "0") for t in tables])


if __name__ == "__main__":
    unittest.main()
