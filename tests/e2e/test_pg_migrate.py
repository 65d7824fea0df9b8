"""`vmail db migrate-to postgresql://…` (issue 14): a single node's SQLite
store with 10k users, aliases, quotas, disabled users, an alias domain, a
forward and access denials moves into an empty PostgreSQL 15 store; every
shared row is equal afterwards, a second run and bad URLs change nothing,
and a fresh node that follows the PostgreSQL store serves the same users
and logins."""

import json
import os
import sqlite3
import unittest

from harness import Instance
from pg import PgServer
from server import DOMAIN, Server, imap_login_ok

USERS = 10000
SHARED_TABLES = ["domains", "users", "aliases", "alias_destinations", "alias_domains", "forwards",
                 "forward_destinations", "user_access_denied", "dkim_keys", "audit_log"]
# A well-formed hash nobody can log in with: the 10k bulk users only have to be copied.
BULK_HASH = "{SHA512-CRYPT}$6$migratesalt$" + "x" * 86
SAMPLES = {"alice@" + DOMAIN: "alice password", "bob@" + DOMAIN: "bob password"}
DISABLED = ("carol@" + DOMAIN, "carol password")


def sqlite_rows(path, table):
    """Every row as a tuple of text (NULL as None), sorted: how psql prints them."""
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        rows = con.execute(f'SELECT * FROM "{table}"').fetchall()
    finally:
        con.close()
    return sorted((tuple(None if v is None else str(v) for v in row) for row in rows), key=repr)


def pg_rows(pg, table):
    """The same from PostgreSQL: one JSON object a row, integers kept as their text."""
    out = pg.psql(f"SELECT row_to_json(t)::text FROM \"{table}\" t")
    rows = []
    for line in out.splitlines():
        if not line:
            continue
        values = json.loads(line, parse_int=str)
        rows.append(tuple(None if v is None else str(v) for v in values.values()))
    return sorted(rows, key=repr)


class MigrateToTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.pg = PgServer()
        cls.source = Instance()
        cls.build_store(cls.source)

    @classmethod
    def tearDownClass(cls):
        cls.source.cleanup()
        cls.pg.cleanup()

    @classmethod
    def build_store(cls, inst):
        inst.vmail("domain", "add", DOMAIN, check=0)
        inst.vmail("domain", "add", "other.test", check=0)
        inst.vmail("domain", "alias", "add", "alias.test", DOMAIN, check=0)
        path = os.path.join(inst.root, "users.csv")
        with open(path, "w") as f:
            f.write("email,password_hash,quota,name,enabled\n")
            for i in range(USERS):
                quota = "1G" if i % 3 == 0 else ""
                enabled = "no" if i % 10 == 0 else "yes"
                f.write(f"u{i:05d}@other.test,{BULK_HASH},{quota},\"User {i}\",{enabled}\n")
        inst.vmail("--no-export", "user", "import", path, check=0)
        for address, password in SAMPLES.items():
            inst.add_user(address, password, "--quota", "2G")
        inst.add_user(*DISABLED)
        inst.vmail("user", "disable", DISABLED[0], check=0)
        inst.vmail("alias", "add", "sales@" + DOMAIN, "alice@" + DOMAIN, "bob@" + DOMAIN, check=0)
        inst.vmail("alias", "add", "@other.test", "alice@" + DOMAIN, check=0)
        inst.vmail("user", "forward", "bob@" + DOMAIN, "bob@elsewhere.test", "--keep", check=0)
        inst.vmail("user", "access", "alice@" + DOMAIN, "pop3=off", "sieve=off", check=0)

    def migrate(self, url=None, check=None, env=None):
        e = {"VMAIL_DB_PASSWORD_FILE": self.pg.password_file}
        e.update(env or {})
        return self.source.vmail("db", "migrate-to", url or self.pg.url, env=e, check=check)

    def test_migrate_copies_every_row_then_a_node_serves_the_same_logins(self):
        # Refusals first: each leaves the PostgreSQL store empty.
        for url in (self.pg.url.replace("vmail@", "vmail:secret@"), self.pg.url + "?sslmode=disable&password=secret"):
            p = self.migrate(url, check=78)
            self.assertEqual(len(p.stderr.strip().splitlines()), 1, p.stderr)
            self.assertNotIn("secret", p.stderr)
        p = self.migrate("postgresql://vmail@127.0.0.1:1/vmail", check=75)
        self.assertEqual(len(p.stderr.strip().splitlines()), 1, p.stderr)
        p = self.source.vmail("db", "migrate-to", self.pg.url, check=64,
                              env={"VMAIL_DB": self.pg.url, "VMAIL_DB_PASSWORD_FILE": self.pg.password_file})

        before = {t: sqlite_rows(self.source.db, t) for t in SHARED_TABLES}
        self.check_verify_catches_a_changed_row()
        p = self.migrate(check=0)
        self.assertIn("next:", p.stdout)
        self.assertIn(["users", str(USERS + 3)], [line.split() for line in p.stdout.splitlines()])
        for table in SHARED_TABLES:
            with self.subTest(table=table):
                self.assertEqual(pg_rows(self.pg, table), before[table])
        self.assertEqual(len(before["users"]), USERS + 3)

        # A second run is refused and changes nothing.
        cluster = self.pg.psql("SELECT id FROM vmail_cluster").strip()
        p = self.migrate(check=65)
        self.assertEqual(len(p.stderr.strip().splitlines()), 1, p.stderr)
        self.assertEqual(self.pg.psql("SELECT id FROM vmail_cluster").strip(), cluster)
        self.assertEqual(pg_rows(self.pg, "users"), before["users"])
        self.assertEqual(sqlite_rows(self.source.db, "users"), before["users"])

        self.check_node_follows()

    def check_verify_catches_a_changed_row(self):
        """A PostgreSQL trigger that alters one copied row: the row for row
        check must find it, name it, and roll the whole copy back."""
        # A node on the store migrates its schema and writes no shared row.
        self.source.vmail("user", "list", check=0,
                          env={"VMAIL_DB": self.pg.url, "VMAIL_DB_PASSWORD_FILE": self.pg.password_file})
        self.pg.psql("CREATE FUNCTION tamper() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
                     "IF NEW.address = 'bob@" + DOMAIN + "' THEN NEW.name := 'tampered'; END IF; RETURN NEW; END $$;"
                     "CREATE TRIGGER tamper BEFORE INSERT ON users FOR EACH ROW EXECUTE FUNCTION tamper()")
        try:
            p = self.migrate(check=65)
        finally:
            self.pg.psql("DROP TRIGGER tamper ON users; DROP FUNCTION tamper()")
        bob = [row[0] for row in sqlite_rows(self.source.db, "users") if row[3] == "bob@" + DOMAIN][0]
        self.assertEqual(p.stderr.strip().splitlines(), [f"vmail: verify: table users row (id={bob}) differs in column "
                                                         f"name; nothing was copied"])
        for table in SHARED_TABLES:
            self.assertEqual(self.pg.psql(f'SELECT count(*) FROM "{table}"').strip(), "0", table)

    def check_node_follows(self):
        node = Server(extra_env={"VMAIL_DB": self.pg.url, "VMAIL_DB_PASSWORD_FILE": self.pg.password_file})
        try:
            # The fresh replica is copied whole from PostgreSQL.
            listed = node.vmail("user", "list", "--json", check=0)
            self.assertEqual(json.loads(listed.stdout),
                             json.loads(self.source.vmail("user", "list", "--json", check=0).stdout))
            node.start()
            for address, password in SAMPLES.items():
                self.assertTrue(imap_login_ok(node, address, password), address)
            self.assertFalse(imap_login_ok(node, *DISABLED))
            self.assertFalse(imap_login_ok(node, "alice@" + DOMAIN, "wrong password"))
        finally:
            node.cleanup()


if __name__ == "__main__":
    unittest.main()
