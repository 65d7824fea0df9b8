"""Upgrades from every earlier schema version (issue 23): each database in
tests/fixtures/ was made once by the `vmail` of that version (see the README
there), never by today's code. Today's `vmail` reads it without migrating,
backs it up as it is, migrates it (`vmail db migrate`), and today's
`vmail-launch` backs it up and migrates it on start; every row comes through
to `user list`, `alias list`, `getent` and the exported maps."""

import glob
import json
import os
import re
import shutil
import sqlite3
import subprocess
import unittest

from harness import SOURCE_DIR, Instance
from server import Server

FIXTURES = os.path.join(SOURCE_DIR, "tests", "fixtures")
VERSIONS = sorted(int(m.group(1)) for m in (re.fullmatch(r"schema-(\d+)\.sql", n) for n in os.listdir(FIXTURES)) if m)

# What make-fixtures.sh told each old vmail to create.
BOB_HASH = ("{SHA512-CRYPT}$6$jBgXJch/vJMl/2P.$21euaQn.zlmyPSQsi3s7fRcL2qdL4J/sghxOVAJDq.ZWPVPAyO/"
            "FpCsAV6CxCkyxsL1Nl6xlUzx1h4TMaq0u./")
PASSWORDS = {"alice@example.com": "alice-password-1", "bob@example.com": "bob-password-1",
             "carol@example.org": "carol-password-1", "dave@example.org": "dave-password-1"}
USERS = {  # address -> (name, quota, enabled)
    "alice@example.com": ("Alice Example", 2 << 30, True),
    "bob@example.com": ("", 500 << 20, True),
    "carol@example.org": ("Carol", None, True),
    "dave@example.org": ("", None, False),
}
ALIASES = {
    "team@example.com": ["alice@example.com", "bob@example.com", "partner@elsewhere.net"],
    "postmaster@example.org": ["carol@example.org"],
    "@example.org": ["alice@example.com", "carol@example.org"],
}


# Schema 5 and later: every change above (and an alias added and deleted
# again) left an audit entry, recorded as run by SUDO_USER=fixture-admin.
AUDIT = {  # first version -> (command, object) of the entries it adds, in order
    5: [("domain add", "example.com"), ("domain add", "example.org"), ("user add", "alice@example.com"),
        ("user add", "bob@example.com"), ("user add", "carol@example.org"), ("user add", "dave@example.org"),
        ("user disable", "dave@example.org"), ("alias add", "team@example.com"),
        ("alias add", "postmaster@example.org"), ("alias add", "@example.org"),
        ("domain alias add", "example.net"), ("user forward", "bob@example.com"),
        ("user forward", "carol@example.org"), ("user access", "alice@example.com"),
        ("user access", "dave@example.org"), ("alias add", "sales@example.com"),
        ("alias del", "sales@example.com")],
    6: [("domain dkim", "example.com"), ("domain dkim", "example.org")],
}
# Schema 6 and later: domain add and domain alias add gave each domain an RSA
# key (selector s<date>); example.com got an Ed25519 key ed1, example.org's
# first RSA key was retired by a rotation to rot2.
DKIM = {  # domain -> sorted (selector or None for s<date>, algorithm, state)
    "example.com": [(None, "rsa", "active"), ("ed1", "ed25519", "active")],
    "example.org": [(None, "rsa", "retired"), ("rot2", "rsa", "active")],
    "example.net": [(None, "rsa", "active")],
}


def fixture_rows(version, query):
    """Rows of the fixture itself (not of the upgraded database)."""
    con = sqlite3.connect(":memory:")
    try:
        with open(os.path.join(FIXTURES, f"schema-{version}.sql")) as f:
            con.executescript(f.read())
        return con.execute(query).fetchall()
    finally:
        con.close()


def load_fixture(version, root):
    """The fixture as the old version left it under VMAIL_ROOT `root`."""
    state = os.path.join(root, "data", "state")
    os.makedirs(state, exist_ok=True)
    db = os.path.join(state, "vmail.db")
    con = sqlite3.connect(db)
    with open(os.path.join(FIXTURES, f"schema-{version}.sql")) as f:
        con.executescript(f.read())
    con.close()
    keys = os.path.join(FIXTURES, f"schema-{version}-dkim")
    if os.path.isdir(keys):
        shutil.copytree(keys, os.path.join(state, "dkim"))
        # The modes the old version gave them (git keeps none).
        for folder, _, files in os.walk(os.path.join(state, "dkim")):
            os.chmod(folder, 0o700)
            for name in files:
                os.chmod(os.path.join(folder, name), 0o600)
    return db


def table_counts(path):
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        names = [n for (n,) in con.execute("SELECT name FROM sqlite_master WHERE type='table' ORDER BY name")]
        return {n: con.execute(f'SELECT count(*) FROM "{n}"').fetchone()[0] for n in names}
    finally:
        con.close()


def user_version(path):
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return con.execute("PRAGMA user_version").fetchone()[0]
    finally:
        con.close()


class Upgrade(unittest.TestCase):
    def test_every_earlier_version_has_a_fixture(self):
        latest = len(glob.glob(os.path.join(SOURCE_DIR, "migrations", "[0-9]*.sql")))
        self.assertEqual(VERSIONS, list(range(1, latest)), "tests/fixtures/make-fixtures.sh makes the missing ones")

    def check_content(self, version, vmail, root):
        """Every row the old version wrote, as today's commands show it."""
        users = {u["address"]: (u["name"], u["quota"], u["enabled"])
                 for u in json.loads(vmail("--json", "user", "list", check=0).stdout)}
        self.assertEqual(users, USERS)
        aliases = {a["source"]: sorted(a["destinations"])
                   for a in json.loads(vmail("--json", "alias", "list", check=0).stdout)}
        self.assertEqual(aliases, ALIASES)
        passwd = vmail("getent", "passwd", check=0).stdout.splitlines()
        self.assertEqual(sorted(line.split(":")[0] for line in passwd), sorted(USERS))
        team = vmail("getent", "aliases", "team@example.com", check=0).stdout
        self.assertEqual(sorted(d.strip() for d in team.split(":", 1)[1].split(",")), ALIASES["team@example.com"])
        domains = {d["name"]: d for d in json.loads(vmail("--json", "domain", "list", check=0).stdout)}
        expect_domains = {"example.com", "example.org"} | ({"example.net"} if version >= 3 else set())
        self.assertEqual(set(domains), expect_domains)
        bob = json.loads(vmail("--json", "user", "show", "bob@example.com", check=0).stdout)
        carol = json.loads(vmail("--json", "user", "show", "carol@example.org", check=0).stdout)
        if version >= 3:
            self.assertEqual(domains["example.net"]["alias_of"], "example.com")
            self.assertEqual(bob["forward"], {"destinations": ["alice@example.com", "bob@elsewhere.net"],
                                              "keep": True})
            self.assertEqual(carol["forward"], {"destinations": ["carol@elsewhere.net"], "keep": False})
        else:
            self.assertIsNone(bob["forward"])
        alice = json.loads(vmail("--json", "user", "show", "alice@example.com", check=0).stdout)
        dave = json.loads(vmail("--json", "user", "show", "dave@example.org", check=0).stdout)
        if version >= 4:
            self.assertEqual({k for k, on in alice["access"].items() if not on}, {"pop3", "sieve"})
            self.assertEqual({k for k, on in dave["access"].items() if not on}, {"send"})
        for address in USERS:  # no denial of its own: every switch on
            if version < 4 or address not in ("alice@example.com", "dave@example.org"):
                shown = json.loads(vmail("--json", "user", "show", address, check=0).stdout)
                self.assertTrue(all(shown["access"].values()), (address, shown["access"]))
        if version >= 5:
            self.check_audit_log(version, vmail)
        if version >= 6:
            self.check_dkim_keys(version, vmail, root)
        # The exported files carry every mailbox, alias and hash.
        with open(os.path.join(root, "etc/dovecot/users")) as f:
            lines = {line.split(":")[0]: line for line in f.read().splitlines()}
        self.assertEqual(set(lines), set(USERS))
        self.assertEqual(lines["bob@example.com"].split(":")[1], BOB_HASH)
        for address, password in PASSWORDS.items():
            hashed = lines[address].split(":")[1]
            p = subprocess.run(["doveadm", "pw", "-t", hashed, "-p", password], capture_output=True, text=True)
            self.assertEqual(p.returncode, 0, f"{address}: {p.stderr}")
        with open(os.path.join(root, "etc/postfix/virtual")) as f:
            virtual = dict(line.split(" ", 1) for line in f.read().splitlines() if line and not line.startswith("#"))
        for source, dests in ALIASES.items():
            self.assertEqual(sorted(virtual[source].split(",")), dests)
        with open(os.path.join(root, "etc/postfix/vmailbox")) as f:
            self.assertEqual({line.split(" ")[0] for line in f.read().splitlines() if line}, set(USERS))

    def check_audit_log(self, version, vmail):
        """Every entry the old version logged, field by field."""
        rows = fixture_rows(version, "SELECT id, time, uid, sudo_user, command, action, object, old_value, new_value"
                                     " FROM audit_log ORDER BY id")
        expected = [entry for first, entries in sorted(AUDIT.items()) if first <= version for entry in entries]
        self.assertEqual([(r[4], r[6]) for r in rows], expected)
        self.assertEqual({r[3] for r in rows}, {"fixture-admin"})
        log = {e["id"]: e for e in sorted(json.loads(vmail("--json", "log", "--limit", "1000", check=0).stdout),
                                          key=lambda e: e["id"])}
        for (id, time, uid, sudo_user, command, action, obj, old, new) in rows:
            self.assertEqual(log[id], {"id": id, "time": time, "uid": uid, "sudo_user": sudo_user,
                                       "command": command, "action": action, "object": obj,
                                       "old": json.loads(old) if old else None,
                                       "new": json.loads(new) if new else None})
        # The log never held a password or hash; it still does not.
        text = json.dumps(list(log.values()))
        self.assertNotIn("{SHA512-CRYPT}", text)
        self.assertNotIn("password-1", text)
        dave = [e for e in log.values() if e["command"] == "user disable"]
        self.assertEqual(len(dave), 1)
        sales = [(e["action"], e["old"] is None, e["new"] is None) for e in log.values()
                 if e["object"] == "sales@example.com"]
        self.assertEqual([s[1:] for s in sales], [(True, False), (False, True)])

    def check_dkim_keys(self, version, vmail, root):
        """Every key the old version made: row, DNS record, private file, KeyTable."""
        rows = fixture_rows(version, "SELECT d.name, k.selector, k.algorithm, k.state, k.public_key"
                                     " FROM dkim_keys k JOIN domains d ON d.id = k.domain_id")
        shape = {}
        for domain, selector, algorithm, state, _ in rows:
            named = selector if not re.fullmatch(r"s\d{8}", selector) else None
            shape.setdefault(domain, []).append((named, algorithm, state))
        self.assertEqual({d: sorted(k, key=str) for d, k in shape.items()},
                         {d: sorted(k, key=str) for d, k in DKIM.items()})
        state_dir = os.path.join(root, "data", "state")
        with open(os.path.join(root, "etc/opendkim/KeyTable")) as f:
            key_table = set(f.read().split())
        for domain in DKIM:
            mine = [r for r in rows if r[0] == domain]
            keys = json.loads(vmail("--json", "domain", "dkim", domain, check=0).stdout)
            # The upgrade (and the launcher) keep them all and add none.
            self.assertEqual(sorted((k["selector"], k["algorithm"], k["state"]) for k in keys),
                             sorted(r[1:4] for r in mine))
            dns = json.loads(vmail("--json", "domain", "dns", domain, check=0).stdout)["records"]
            published = "".join("".join(r["strings"] or [r["value"]]) for r in dns)
            for _, selector, algorithm, key_state, public_key in mine:
                self.assertIn(f"p={public_key}", published, (domain, selector))
                path = os.path.join(state_dir, "dkim", domain, f"{selector}.private")
                with open(path) as f, open(os.path.join(FIXTURES, f"schema-{version}-dkim", domain,
                                                        f"{selector}.private")) as g:
                    self.assertEqual(f.read(), g.read(), path)
                signing = f"{domain}:{selector}:{path}" in key_table
                self.assertEqual(signing, key_state == "active", (domain, selector))

    def check_backup(self, backup, version, original_counts):
        """A backup of version `version` that opens and holds every row."""
        self.assertEqual(os.stat(backup).st_mode & 0o777, 0o600)
        self.assertEqual(user_version(backup), version)
        self.assertEqual(table_counts(backup), original_counts)
        con = sqlite3.connect(f"file:{backup}?mode=ro", uri=True)
        n = con.execute("SELECT count(*) FROM users").fetchone()[0]
        con.close()
        self.assertEqual(n, len(USERS))

    def test_cli_reads_backs_up_and_migrates_every_version(self):
        for version in VERSIONS:
            with self.subTest(schema=version):
                inst = Instance()
                self.addCleanup(inst.cleanup)
                db = load_fixture(version, inst.root)
                counts = table_counts(db)
                # Read commands read the old schema as it is: nothing migrated.
                users = json.loads(inst.vmail("--json", "user", "list", check=0).stdout)
                self.assertEqual({u["address"] for u in users}, set(USERS))
                self.assertEqual(user_version(db), version)
                # "Back up before upgrading" keeps the old version.
                backup = os.path.join(inst.root, "before.db")
                inst.vmail("db", "backup", backup, check=0)
                self.assertEqual(user_version(db), version)
                self.check_backup(backup, version, counts)
                # The backup is a database today's vmail reads.
                restored = json.loads(inst.vmail("--db", backup, "--json", "alias", "list", check=0).stdout)
                self.assertEqual({a["source"] for a in restored}, set(ALIASES))
                inst.vmail("db", "migrate", check=0)
                self.assertGreater(user_version(db), version)
                # The migration keeps every row of every table it found.
                self.assertEqual({t: n for t, n in table_counts(db).items() if t in counts}, counts)
                inst.vmail("export", check=0)
                self.check_content(version, inst.vmail, inst.root)

    def test_launcher_backs_up_then_migrates_every_version(self):
        for version in VERSIONS:
            with self.subTest(schema=version):
                server = Server(domain="example.com")
                self.addCleanup(shutil.rmtree, server.root, True)
                db = load_fixture(version, server.root)
                counts = table_counts(db)
                p = server.launch("--configure-only")
                self.assertEqual(p.returncode, 0, p.stderr)
                backups = glob.glob(os.path.join(server.root, "data/state/backups/*"))
                self.assertEqual([os.path.basename(b)[-len(f"-v{version}.db"):] for b in backups], [f"-v{version}.db"])
                self.check_backup(backups[0], version, counts)
                self.assertGreater(user_version(db), version)
                self.check_content(version, server.vmail, server.root)
                # Each domain can sign: the launcher gave older ones an RSA key.
                for domain in ("example.com", "example.org"):
                    keys = json.loads(server.vmail("--json", "domain", "dkim", domain, check=0).stdout)
                    self.assertIn("rsa", [k["algorithm"] for k in keys])


if __name__ == "__main__":
    unittest.main()
