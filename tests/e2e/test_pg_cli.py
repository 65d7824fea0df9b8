"""End-to-end tests of the CLI on a PostgreSQL store (issue 14, SPEC "Beyond
one machine"): the same commands give the same output, JSON, exit codes and
exported files on SQLite and on PostgreSQL; an unreachable database is exit
75 with one line and changes nothing; no password on a command line or in a
message; two nodes changing the same alias at once lose nothing.

One real PostgreSQL 15 server (tests/e2e/pg.py) for the class; each test has
its own database on it."""

import json
import os
import re
import sqlite3
import subprocess
import threading
import time
import unittest

from harness import VMAIL, Instance, run_with_memory_limit
from pg import PgServer
from test_nss import module_env

PASSWORD = "correct horse battery"

# (args, stdin): good and hostile commands, in order; each runs on both stores.
SCRIPT = [
    (("domain", "add", "example.com"), None),
    (("domain", "add", "other.org"), None),
    (("domain", "add", "bad..name"), None),
    (("domain", "add", "example.com"), None),
    (("user", "add", "alice@example.com", "--password-stdin", "--quota", "1G", "--name", "Alice"), PASSWORD),
    (("user", "add", "alice@example.com", "--password-stdin"), PASSWORD),
    (("user", "add", "bob@nowhere.org", "--password-stdin"), PASSWORD),
    (("user", "add", "short@example.com", "--password-stdin"), "short"),
    (("user", "add", "bob@example.com", "--password-stdin"), PASSWORD),
    (("user", "quota", "bob@example.com", "0"), None),
    (("user", "quota", "bob@example.com", "-5"), None),
    (("user", "disable", "bob@example.com"), None),
    (("user", "access", "alice@example.com", "pop3=off", "send=off"), None),
    (("user", "access", "alice@example.com", "ftp=off"), None),
    (("user", "forward", "alice@example.com", "x@remote.example", "--keep"), None),
    (("alias", "add", "info@example.com", "alice@example.com,bob@example.com"), None),
    (("alias", "add", "alice@example.com", "bob@example.com"), None),
    (("alias", "add", "a1@example.com", "a2@example.com"), None),
    (("alias", "add", "a2@example.com", "a1@example.com"), None),
    (("alias", "add", "@other.org", "alice@example.com"), None),
    (("alias", "del", "info@example.com", "bob@example.com"), None),
    (("alias", "del", "nobody@example.com"), None),
    (("domain", "alias", "add", "example.net", "example.com"), None),
    (("domain", "alias", "add", "example.net", "example.com"), None),
    (("user", "show", "alice@example.com", "--json"), None),
    (("user", "list", "--json"), None),
    (("alias", "list", "--json"), None),
    (("domain", "list", "--json"), None),
    (("user", "del", "nobody@example.com"), None),
    (("user", "del", "bob@example.com"), None),
    (("domain", "del", "other.org"), None),
    (("domain", "del", "other.org", "--force"), None),
    (("domain", "list"), None),
    (("user", "list"), None),
    (("export", "--check"), None),
]

class PgNode(Instance):
    """An Instance whose local database is the replica of a PostgreSQL store."""

    @property
    def db(self):
        return os.path.join(self.root, "data/state/replica.db")


TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")
SHA512_HASH = "{SHA512-CRYPT}$6$prunesalt$" + "x" * 86
HASH = re.compile(rb"\{[A-Z0-9-]+\}\$[^:\n]*")


class PgCliTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.pg = PgServer()
        cls.databases = 0

    @classmethod
    def tearDownClass(cls):
        cls.pg.cleanup()

    def node(self, url=None):
        """A node (own VMAIL_ROOT) on a database of its own, or on `url`."""
        if url is None:
            type(self).databases += 1
            url = self.pg.new_database(f"cli{type(self).databases}")
        inst = PgNode({"VMAIL_DB": url, "VMAIL_DB_PASSWORD_FILE": self.pg.password_file})
        self.addCleanup(inst.cleanup)
        inst.url = url
        return inst

    def normalized(self, inst, p):
        def clean(text):
            return TIME.sub("TIME", text.replace(inst.root, "ROOT"))
        return p.returncode, clean(p.stdout), clean(p.stderr)

    def exported(self, inst):
        """The exported text files, with the root and the salted hashes blanked."""
        return {os.path.relpath(path, inst.root): HASH.sub(b"HASH", data.replace(inst.root.encode(), b"ROOT"))
                for path, data in inst.exported_files().items() if not path.endswith((".db", ".lmdb", ".cdb"))}

    def test_same_output_exit_codes_and_files_on_both_stores(self):
        sqlite = Instance()
        self.addCleanup(sqlite.cleanup)
        pg = self.node()
        for args, stdin in SCRIPT:
            on_sqlite = self.normalized(sqlite, sqlite.vmail(*args, input=stdin and stdin + "\n"))
            on_pg = self.normalized(pg, pg.vmail(*args, input=stdin and stdin + "\n"))
            self.assertEqual(on_pg, on_sqlite, f"vmail {' '.join(args)}")
        self.assertEqual(self.exported(pg), self.exported(sqlite))
        self.assertTrue(os.path.exists(os.path.join(pg.root, "data/state/replica.db")))
        self.assertFalse(os.path.exists(os.path.join(pg.root, "data/state/vmail.db")))
        # The audit log is shared: the same entries, the same JSON.
        strip = lambda entries: [{k: v for k, v in e.items() if k not in ("time", "id")} for e in entries]
        self.assertEqual(strip(json.loads(pg.vmail("log", "--json", check=0).stdout)),
                         strip(json.loads(sqlite.vmail("log", "--json", check=0).stdout)))
        self.assertEqual(self.pg.psql("SELECT count(*) FROM users", db=pg.url.rsplit("/", 1)[1]).strip(), "1")

    def test_unreachable_database_is_75_in_one_line_and_changes_nothing(self):
        node = self.node()
        node.vmail("domain", "add", "example.com", check=0)
        node.add_user("alice@example.com", PASSWORD)
        before_db, before_files = node.dump_db(), node.exported_files()
        self.pg.stop()
        try:
            for args in (("user", "add", "carol@example.com", "--password-stdin"), ("domain", "add", "x.org"),
                         ("user", "quota", "alice@example.com", "2G"), ("user", "list")):
                p = node.vmail(*args, input=PASSWORD + "\n", check=75)
                self.assertEqual(len(p.stderr.strip().splitlines()), 1, p.stderr)
                self.assertIn(f"127.0.0.1:{self.pg.port}/", p.stderr)
                self.assertIn("unreachable", p.stderr)
                self.assertNotIn(self.pg.password, p.stderr)
            # What the node serves from needs no database server: glibc's
            # getent through the NSS module reads the replica.
            vmail_line = node.vmail("getent", "passwd", "alice@example.com", check=0).stdout
            glibc = subprocess.run(["getent", "-s", "vmail", "passwd", "alice@example.com"],
                                   env=module_env(node.env), capture_output=True, text=True, timeout=60)
            self.assertEqual((glibc.returncode, glibc.stdout), (0, vmail_line))
            self.assertIn("alice@example.com:", vmail_line)
            status = json.loads(node.vmail("db", "status", "--json", check=0).stdout)
            self.assertEqual(status["upstream"]["reachable"], False)
            self.assertGreater(status["upstream"]["replica_seq"], 0)
            self.assertEqual(node.dump_db(), before_db)
            self.assertEqual(node.exported_files(), before_files)
        finally:
            self.pg.start()
        node.add_user("carol@example.com", PASSWORD)
        status = json.loads(node.vmail("db", "status", "--json", check=0).stdout)["upstream"]
        self.assertEqual((status["reachable"], status["seq"]), (True, status["replica_seq"]))

    def test_a_password_never_goes_on_a_command_line(self):
        node = self.node()
        with_password = node.url.replace("vmail@", f"vmail:{self.pg.password}@")
        for args in (("--db", with_password, "domain", "list"), ("domain", "list")):
            env = {"VMAIL_DB": with_password} if args[0] != "--db" else None
            p = node.vmail(*args, env=env, check=78)
            self.assertNotIn(self.pg.password, p.stdout + p.stderr)
            self.assertIn("VMAIL_DB_PASSWORD_FILE", p.stderr)
        wrong = os.path.join(node.root, "wrong-password")
        with open(wrong, "w") as f:
            f.write("not-the-password\n")
        p = node.vmail("domain", "list", env={"VMAIL_DB_PASSWORD_FILE": wrong}, check=78)
        self.assertEqual(len(p.stderr.strip().splitlines()), 1, p.stderr)
        self.assertIn("password authentication failed", p.stderr)
        self.assertNotIn("not-the-password", p.stderr)
        # libpq's own PGPASSFILE works as well.
        node.vmail("domain", "list", env={"VMAIL_DB_PASSWORD_FILE": "", "PGPASSFILE": self.pg.pgpass}, check=0)

    def refused_unchanged(self, node, args, env, *words, code=78):
        """`vmail ARGS` exits `code` with one line holding `words`; nothing changes."""
        db_before, files_before = node.dump_db(), node.exported_files()
        p = node.vmail(*args, env=env)
        self.assertEqual(p.returncode, code, p.stderr)
        lines = p.stderr.strip().splitlines()
        self.assertEqual(len(lines), 1, p.stderr)
        for word in words:
            self.assertIn(word, lines[0])
        self.assertEqual(node.dump_db(), db_before)
        self.assertEqual(node.exported_files(), files_before)
        return p

    def test_a_password_in_any_spelling_of_the_url_is_refused(self):
        """Issue 22: libpq's own parser decides; each of these URLs would log
        in (the password is the right one) if it were let through."""
        node = self.node()
        node.vmail("domain", "add", "example.com", check=0)
        pw = self.pg.password
        for url in (f"{node.url}?pass%77ord={pw}", f"{node.url}?%70assword={pw}",
                    f"{node.url}?sslmode=disable&password={pw}", node.url.replace("vmail@", f"vmail:{pw}@")):
            with self.subTest(url=url.replace(pw, "PW")):
                p = self.refused_unchanged(node, ("user", "add", "carol@example.com", "--hash", SHA512_HASH),
                                           {"VMAIL_DB": url, "VMAIL_DB_PASSWORD_FILE": ""}, "VMAIL_DB:",
                                           "holds a password")
                self.assertNotIn(pw, p.stdout + p.stderr)

    def test_a_remote_server_without_verified_tls_is_refused_before_connecting(self):
        """Issue 22: 192.0.2.1 (TEST-NET-1) is never contacted: the check
        refuses first (78). Without it the command would try to connect and
        give up after connect_timeout (75)."""
        node = self.node()
        node.vmail("domain", "add", "example.com", check=0)
        port = self.pg.port
        remote = f"postgresql://vmail@192.0.2.1:{port}/vmail?connect_timeout=1"
        cases = [
            ({"VMAIL_DB": remote}, "host 192.0.2.1"),
            ({"VMAIL_DB": remote + "&sslmode=require"}, "sslmode is require"),
            ({"VMAIL_DB": f"postgresql://vmail@localhost:{port}/vmail?hostaddr=192.0.2.1&connect_timeout=1"},
             "hostaddr 192.0.2.1"),
            ({"VMAIL_DB": f"postgresql://vmail@127.0.0.1:{port},192.0.2.1:{port}/vmail?connect_timeout=1"},
             "host 192.0.2.1"),
            ({"VMAIL_DB": f"postgresql:///vmail?port={port}&connect_timeout=1", "PGHOST": "192.0.2.1"},
             "host 192.0.2.1"),
        ]
        for env, names in cases:
            for args in (("user", "add", "carol@example.com", "--hash", SHA512_HASH), ("user", "list"),
                         ("db", "status")):
                with self.subTest(env=env, args=args):
                    self.refused_unchanged(node, args, env, "VMAIL_DB:", names, "sslmode=verify-full")

    def test_an_oversized_password_file_is_refused_unread(self):
        """Issue 22: VMAIL_DB_PASSWORD_FILE holds one line; /dev/zero (no line
        break, no end) or a huge file is refused (78), never read whole."""
        node = self.node()
        node.vmail("domain", "add", "example.com", check=0)
        sparse = os.path.join(node.root, "huge-password")
        with open(sparse, "wb") as f:
            f.truncate(8 << 30)
        for path in ("/dev/zero", sparse):
            with self.subTest(path=path):
                db_before = node.dump_db()
                p = run_with_memory_limit([VMAIL, "domain", "add", "other.org"],
                                          {**node.env, "VMAIL_DB_PASSWORD_FILE": path}, capture_output=True,
                                          text=True, timeout=120)
                self.assertEqual(p.returncode, 78, p.stderr)
                self.assertEqual(p.stderr.strip().splitlines(),
                                 [f"vmail: VMAIL_DB_PASSWORD_FILE {path}: larger than the limit of 4 KiB"])
                self.assertEqual(node.dump_db(), db_before)

    def test_two_nodes_changing_one_alias_at_once_lose_nothing(self):
        a = self.node()
        b = self.node(a.url)
        a.vmail("domain", "add", "example.com", check=0)
        a.vmail("alias", "add", "team@example.com", "first@remote.example", check=0)
        failures = []

        def writer(node, name):
            for i in range(25):
                p = node.vmail("--no-export", "alias", "add", "team@example.com", f"{name}{i}@remote.example")
                if p.returncode != 0:
                    failures.append((name, i, p.returncode, p.stderr))

        threads = [threading.Thread(target=writer, args=(n, name)) for n, name in ((a, "a"), (b, "b"), (a, "c"),
                                                                                   (b, "d"))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual(failures, [])
        expected = {"first@remote.example"} | {f"{n}{i}@remote.example" for n in "abcd" for i in range(25)}
        for node in (a, b):
            aliases = json.loads(node.vmail("alias", "list", "--json", check=0).stdout)
            self.assertEqual(set(aliases[0]["destinations"]), expected)
        db = a.url.rsplit("/", 1)[1]
        self.assertEqual(self.pg.psql("SELECT count(*) FROM alias_destinations", db=db).strip(), "101")
        # Every change is one entry of the change log, in commit order.
        self.assertEqual(self.pg.psql("SELECT count(*) FROM vmail_changes", db=db).strip(), "102")

    def test_a_replica_that_cannot_follow_is_copied_whole(self):
        a = self.node()
        b = self.node(a.url)
        a.vmail("domain", "add", "example.com", check=0)
        a.add_user("alice@example.com", PASSWORD)
        b.vmail("user", "list", check=0)
        # B's replica loses a row behind vmail's back; A then changes that row:
        # the change cannot apply on B, so B copies the store whole.
        con = sqlite3.connect(b.db)
        with con:
            con.execute("PRAGMA foreign_keys = OFF")
            con.execute("DELETE FROM users WHERE address = 'alice@example.com'")
        con.close()
        a.vmail("user", "quota", "alice@example.com", "5M", check=0)
        shown = json.loads(b.vmail("user", "show", "alice@example.com", "--json", check=0).stdout)
        self.assertEqual(shown["quota"], 5 << 20)
        # A store started anew (another cluster id) is copied whole as well.
        db = a.url.rsplit("/", 1)[1]
        self.pg.psql("UPDATE vmail_cluster SET id = 'restored-elsewhere'; DELETE FROM audit_log; "
                     "DELETE FROM users; DELETE FROM domains", db=db)
        self.assertEqual(b.vmail("domain", "list", "--json", check=0).stdout.strip(), "[]")
        seq = sqlite3.connect(f"file:{b.db}?mode=ro", uri=True).execute(
            "SELECT value FROM replication WHERE name = 'cluster'").fetchone()
        self.assertEqual(seq, ("restored-elsewhere",))

    def test_the_change_log_is_pruned_and_a_node_behind_it_is_copied_whole(self):
        a = self.node()
        b = self.node(a.url)
        db = a.url.rsplit("/", 1)[1]
        a.vmail("domain", "add", "example.com", check=0)
        b.vmail("user", "list", check=0)  # B holds the domain, then is away
        for name in ("old1", "old2", "old3"):
            a.vmail("--no-export", "user", "add", f"{name}@example.com", "--hash", SHA512_HASH, check=0)
        # Those changes are eight days old now; the next write's seq is a
        # multiple of 1000 (kPruneEvery), so it prunes the change log.
        self.pg.psql("UPDATE vmail_changes SET time = now() - interval '8 days'; "
                     "SELECT setval('vmail_changes_seq_seq', 1999)", db=db)
        a.vmail("--no-export", "user", "add", "young@example.com", "--hash", SHA512_HASH, check=0)
        self.assertEqual(self.pg.psql("SELECT seq FROM vmail_changes", db=db).split(), ["2000"])
        # B's next change (old1) is gone: B copies the store whole and has all four.
        listed = json.loads(b.vmail("user", "list", "--json", check=0).stdout)
        self.assertEqual(sorted(u["address"] for u in listed),
                         ["old1@example.com", "old2@example.com", "old3@example.com", "young@example.com"])
        status = json.loads(b.vmail("db", "status", "--json", check=0).stdout)["upstream"]
        self.assertEqual((status["replica_seq"], status["seq"], status["log_oldest_seq"], status["log_entries"]),
                         (2000, 2000, 2000, 1))
        self.assertIn("shared store at 2000 (change log keeps 1 from change 2000, pruned after 7 days)",
                      b.vmail("db", "status", check=0).stdout)
        # Changes younger than a week stay, whatever their seq.
        a.vmail("--no-export", "user", "add", "next@example.com", "--hash", SHA512_HASH, check=0)
        self.pg.psql("SELECT setval('vmail_changes_seq_seq', 2999)", db=db)
        a.vmail("--no-export", "user", "del", "next@example.com", check=0)
        self.assertEqual(self.pg.psql("SELECT count(*) FROM vmail_changes", db=db).strip(), "3")

    def test_dkim_private_keys_reach_every_node(self):
        a = self.node()
        b = self.node(a.url)
        a.vmail("domain", "add", "example.com", check=0)
        key_a = os.path.join(a.root, "data/state/dkim/example.com")
        key_b = os.path.join(b.root, "data/state/dkim/example.com")
        names = sorted(os.listdir(key_a))
        self.assertTrue(names and all(n.endswith(".private") for n in names), names)
        b.vmail("domain", "list", check=0)
        self.assertEqual(sorted(os.listdir(key_b)), names)
        for name in names:
            with open(os.path.join(key_a, name), "rb") as fa, open(os.path.join(key_b, name), "rb") as fb:
                self.assertEqual(fb.read(), fa.read())
            self.assertEqual(os.stat(os.path.join(key_b, name)).st_mode & 0o777, 0o600)
        db = a.url.rsplit("/", 1)[1]
        self.assertEqual(self.pg.psql("SELECT count(*) FROM vmail_dkim_private", db=db).strip(), str(len(names)))
        a.vmail("domain", "del", "example.com", check=0)
        self.assertEqual(self.pg.psql("SELECT count(*) FROM vmail_dkim_private", db=db).strip(), "0")


    def test_rows_from_the_shared_store_never_become_root_paths(self):
        """Issue 22: whoever holds the PostgreSQL role (or another node) wrote
        a domain that climbs out of the DKIM folder, with a key and its
        private file. A node copying the store skips the row with a log line
        and creates, chowns and chmods nothing outside its folders."""
        a = self.node()
        db = a.url.rsplit("/", 1)[1]
        a.vmail("domain", "add", "example.com", check=0)
        # The migration's CHECKs refuse such a row now; the role can drop them.
        refused = self.pg.psql_run("INSERT INTO domains (id, name) VALUES (1000, '../../../victim')", db=db)
        self.assertNotEqual(refused.returncode, 0)
        self.assertIn("domains_name_safe", refused.stderr)
        self.pg.psql("ALTER TABLE domains DROP CONSTRAINT domains_name_safe; "
                     "ALTER TABLE dkim_keys DROP CONSTRAINT dkim_keys_selector_safe; "
                     "ALTER TABLE vmail_dkim_private DROP CONSTRAINT vmail_dkim_private_names_safe; "
                     "INSERT INTO domains (id, name) VALUES (1000, '../../../victim'); "
                     "INSERT INTO dkim_keys (id, domain_id, selector, algorithm, public_key) "
                     "VALUES (1000, 1000, 's1', 'rsa', 'AAAA'); "
                     "INSERT INTO vmail_dkim_private (domain, selector, private_key) "
                     "VALUES ('../../../victim', 's1', '-----BEGIN attacker text')", db=db)
        b = self.node(a.url)  # a new node copies the store whole
        state = os.path.join(b.root, "data/state")
        os.makedirs(state, exist_ok=True)
        os.chmod(b.root, 0o755)
        p = b.vmail("domain", "list")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertFalse(os.path.lexists(os.path.join(b.root, "victim")))
        self.assertEqual(os.stat(b.root).st_mode & 0o777, 0o755)
        self.assertIn("not a safe domain and selector", p.stderr)
        # The honest domain's key still reaches the node.
        self.assertTrue(os.listdir(os.path.join(state, "dkim/example.com")))
        # Lists leave the row out too (the row policy, with a log line).
        self.assertNotIn("victim", p.stdout)
        self.assertIn("example.com", p.stdout)


class PgTlsTest(unittest.TestCase):
    """Nodes on other machines reach PostgreSQL over the network: libpq's TLS
    settings ride in the URL, and a server that does not prove who it is is a
    refusal (78), not an outage."""

    @classmethod
    def setUpClass(cls):
        cls.pg = PgServer(tls=True)  # pg_hba: scram over TLS only

    @classmethod
    def tearDownClass(cls):
        cls.pg.cleanup()

    def node(self, url):
        inst = PgNode({"VMAIL_DB": url, "VMAIL_DB_PASSWORD_FILE": self.pg.password_file})
        self.addCleanup(inst.cleanup)
        return inst

    def test_verified_tls_works_and_an_unverified_server_is_refused(self):
        verified = f"{self.pg.url}?sslmode=verify-full&sslrootcert={self.pg.ca_file}"
        a = self.node(verified)
        a.vmail("domain", "add", "example.com", check=0)
        a.vmail("user", "add", "alice@example.com", "--hash", SHA512_HASH, check=0)
        # The follower reads its URL from a KEY=VALUE file: '=' and '&' survive.
        b = self.node(verified)
        config = os.path.join(b.root, "follower.conf")
        with open(config, "w") as f:
            f.write(f"VMAIL_DB={verified}\nVMAIL_DB_PASSWORD_FILE={self.pg.password_file}\n"
                    f"VMAIL_STATE_DIR={b.root}/data/state\nVMAIL_DOVECOT_DIR={b.root}/etc/dovecot\n"
                    f"VMAIL_POSTFIX_DIR={b.root}/etc/postfix\nVMAIL_OPENDKIM_DIR={b.root}/etc/opendkim\n"
                    f"VMAIL_MAIL_DIR={b.root}/var/mail/vhosts\n")
        follower = subprocess.Popen([VMAIL, "export", "--follow", "--config", config], env=b.env,
                                    stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        try:
            users = os.path.join(b.root, "etc/dovecot/users")
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and not self._holds(users, "alice@example.com:"):
                time.sleep(0.1)
            self.assertTrue(self._holds(users, "alice@example.com:"), "the follower over TLS exported alice")
        finally:
            follower.terminate()
            _, err = follower.communicate(timeout=30)
        self.assertNotIn(self.pg.password, err)
        # Refusals: exit 78 in one line, nothing changed.
        before = a.dump_db()
        for url, reason in (
                (f"{self.pg.url}?sslmode=verify-full&sslrootcert={self.pg.other_ca_file}", "certificate verify failed"),
                (f"{self.pg.url}?sslmode=disable", "no encryption"),
                (f"{self.pg.url}?sslmode=verify-full&sslrootcert={a.root}/missing.crt", "root certificate file")):
            p = a.vmail("user", "add", "carol@example.com", "--hash", SHA512_HASH, env={"VMAIL_DB": url}, check=78)
            self.assertEqual(len(p.stderr.strip().splitlines()), 1, p.stderr)
            self.assertIn(reason, p.stderr)
            self.assertIn(f"127.0.0.1:{self.pg.port}/vmail", p.stderr)
        self.assertEqual(a.dump_db(), before)
        self.assertEqual(self.pg.psql("SELECT address FROM users").split(), ["alice@example.com"])

    @staticmethod
    def _holds(path, prefix):
        try:
            with open(path) as f:
                return any(line.startswith(prefix) for line in f)
        except OSError:
            return False


if __name__ == "__main__":
    unittest.main()
