"""End-to-end tests of the audit log (issue 12, SPEC "Mail policy"): every
change made through the real `vmail` is recorded with uid and SUDO_USER,
newest first, and no password or hash ever reaches the log."""

import json
import os
import sqlite3
import tempfile
import unittest

from harness import InstanceTestCase

# Well-formed SHA512-CRYPT hashes (check_hash looks at salt and checksum).
HASH_PASSWD = "{SHA512-CRYPT}$6$auditpw$IxDD3jeSOb5eB1CX5LBsqZFVkJdido3OUILO5Ifz5iwMuTS4XMS130MTSuDDl3aCI6WouIL9AjRbLCelDCy.g."
HASH_IMPORT = "{SHA512-CRYPT}$6$auditim$" + "y" * 86
PASSWORD_ADD = "first-secret-Passw0rd"
PASSWORD_IMPORT = "import-secret-Passw0rd"
SECRETS = (HASH_PASSWD, HASH_IMPORT, PASSWORD_ADD, PASSWORD_IMPORT, "auditpw", "auditim", "CRYPT")


class AuditLog(InstanceTestCase):
    extra_env = {"SUDO_USER": "alice-admin"}

    def log(self, *args):
        return json.loads(self.inst.vmail("log", "--json", *args, check=0).stdout)

    def write_file(self, name, text):
        path = os.path.join(self.inst.root, name)
        with open(path, "w") as f:
            f.write(text)
        return path

    def audit_rows_text(self):
        con = sqlite3.connect(f"file:{self.inst.db}?mode=ro", uri=True)
        try:
            return repr(con.execute("SELECT * FROM audit_log").fetchall())
        finally:
            con.close()

    def test_every_change_in_order_with_uid_and_sudo_user_and_no_secret(self):
        v = self.inst.vmail
        v("domain", "add", "example.com", check=0)
        v("domain", "add", "other.org", check=0)
        self.inst.add_user("bob@example.com", PASSWORD_ADD, "--quota", "1G")
        v("user", "passwd", "bob@example.com", "--hash", HASH_PASSWD, check=0)
        v("user", "quota", "bob@example.com", "2G", check=0)
        v("user", "disable", "bob@example.com", check=0)
        v("user", "enable", "bob@example.com", check=0)
        v("alias", "add", "sales@example.com", "bob@example.com,x@other.org", check=0)
        v("alias", "del", "sales@example.com", "x@other.org", check=0)
        users = self.write_file("users.csv", "email,password,password_hash\n"
                                f"carol@example.com,{PASSWORD_IMPORT},\n"
                                f"dave@example.com,,{HASH_IMPORT}\n")
        v("user", "import", users, check=0)
        aliases = self.write_file("aliases.csv", "source,destination\ninfo@example.com,carol@example.com\n")
        v("alias", "import", aliases, check=0)
        v("user", "del", "dave@example.com", check=0)
        v("domain", "del", "other.org", check=0)

        entries = self.log()
        self.assertEqual([e["command"] for e in reversed(entries)], [
            "domain add", "domain add", "user add", "user passwd", "user quota", "user disable", "user enable",
            "alias add", "alias del", "user import", "alias import", "user del", "domain del"])
        self.assertEqual([e["id"] for e in entries], sorted((e["id"] for e in entries), reverse=True))
        for e in entries:
            self.assertEqual(list(e.keys()),
                             ["id", "time", "uid", "sudo_user", "command", "action", "object", "old", "new"])
            self.assertEqual(e["uid"], os.getuid())
            self.assertEqual(e["sudo_user"], "alice-admin")
            self.assertRegex(e["time"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
        by_command = {e["command"]: e for e in entries}
        self.assertEqual(by_command["user passwd"]["object"], "bob@example.com")
        self.assertEqual(by_command["user passwd"]["new"], {"password": "changed"})
        self.assertEqual(by_command["user quota"]["old"], {"quota": 1 << 30})
        self.assertEqual(by_command["user quota"]["new"], {"quota": 2 << 30})
        self.assertEqual(by_command["user add"]["new"]["password"], "set")
        self.assertEqual(by_command["alias del"]["new"], {"destinations": ["bob@example.com"]})
        # An import is one entry with its counts, named after its file.
        self.assertEqual(by_command["user import"]["object"], users)
        self.assertEqual(by_command["user import"]["new"], {"created": 2, "updated": 0, "skipped": 0})
        self.assertEqual(by_command["alias import"]["new"], {"created": 1, "updated": 0, "skipped": 0})
        self.assertIsNone(by_command["user del"]["new"])

        shown = v("log", "--json", check=0).stdout + v("log", check=0).stdout
        rows = self.audit_rows_text()
        for secret in SECRETS:
            self.assertNotIn(secret, shown)
            self.assertNotIn(secret, rows)

    def test_refused_change_leaves_no_entry(self):
        v = self.inst.vmail
        v("domain", "add", "example.com", check=0)
        before = self.log()
        v("domain", "add", "example.com", check=65)
        v("user", "passwd", "nobody@example.com", "--hash", HASH_PASSWD, check=67)
        v("alias", "del", "nothing@example.com", check=67)
        bad = self.write_file("bad.csv", "email,password_hash\n"
                              f"ok@example.com,{HASH_IMPORT}\nnot-an-address,{HASH_IMPORT}\n")
        v("user", "import", bad, check=65)
        v("user", "import", bad, "--dry-run", check=65)
        self.assertEqual(self.log(), before)
        self.assertEqual(len(before), 1)

    def test_limit_since_and_a_bad_since(self):
        v = self.inst.vmail
        for d in ("a.org", "b.org", "c.org"):
            v("domain", "add", d, check=0)
        self.assertEqual([e["object"] for e in self.log("--limit", "2")], ["c.org", "b.org"])
        self.assertEqual(len(self.log("--since", "1h")), 3)
        self.assertEqual(len(self.log("--since", "2000-01-01")), 3)
        self.assertEqual(self.log("--since", "2999-01-01T00:00:00Z"), [])
        p = v("log", "--since", "yesterday", check=65)
        self.assertEqual(len(p.stderr.strip().splitlines()), 1)
        self.assertIn("--since", p.stderr)
        v("log", "--limit", "0", check=64)
        table = v("log", check=0).stdout.splitlines()
        self.assertEqual(table[0].split(), ["TIME", "UID", "SUDO_USER", "COMMAND", "OBJECT", "CHANGE"])
        self.assertEqual(len(table), 4)

    def test_without_sudo_the_sudo_user_is_null(self):
        env = dict(self.inst.env)
        del env["SUDO_USER"]
        self.inst.env = env
        self.inst.vmail("domain", "add", "example.com", check=0)
        self.assertIsNone(self.log()[0]["sudo_user"])


if __name__ == "__main__":
    unittest.main()
