"""End-to-end tests of the details a careful admin notices (issue 23 item 6):
vacation in `user show` and the audit log, every mutating command audited,
`--purge` asking (y/N, --yes, refusal without a terminal) and `--dry-run`,
`user add` of an existing address refused before the password, `-q` keeping
data, tables aligned by display width, unknown commands named with the
nearest one. The real vmail against a real database; no daemon."""

import json
import os
import pty
import signal
import time
import unicodedata
import unittest

from harness import VMAIL, InstanceTestCase

GOOD_HASH = "{SHA512-CRYPT}$6$salt$IxDD3jeSOb5eB1CX5LBsqZFVkJdido3OUILO5Ifz5iwMuTS4XMS130MTSuDDl3aCI6WouIL9AjRbLCelDCy.g."


def width(text):
    """Columns on a terminal: wide East Asian characters 2, combining marks 0."""
    return sum(0 if unicodedata.combining(c) else 2 if unicodedata.east_asian_width(c) in "WF" else 1
               for c in text)


def run_on_terminal(env, argv, answer):
    """Runs vmail ARGV on a new pseudo-terminal, types `answer` once the
    question shows; returns (exit status, everything it wrote)."""
    pid, fd = pty.fork()
    if pid == 0:
        os.execve(VMAIL, [VMAIL, *argv], env)
    out = b""
    deadline = time.time() + 30
    while b"[y/N]" not in out and time.time() < deadline:
        try:
            out += os.read(fd, 1024)
        except OSError:
            break
    if b"[y/N]" in out:
        os.write(fd, answer.encode() + b"\n")
    while True:
        try:
            chunk = os.read(fd, 1024)
        except OSError:
            break
        if not chunk:
            break
        out += chunk
    deadline = time.time() + 30
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        if time.time() > deadline:
            os.kill(pid, signal.SIGKILL)
            status = os.waitpid(pid, 0)[1]
            break
        time.sleep(0.05)
    os.close(fd)
    return os.waitstatus_to_exitcode(status), out.decode(errors="replace")


class Base(InstanceTestCase):
    def setUp(self):
        super().setUp()
        self.v = self.inst.vmail
        self.v("domain", "add", "example.com", check=0)
        self.inst.add_user("alice@example.com")

    def log(self):
        return json.loads(self.v("log", "--json", "--limit", "1000", check=0).stdout)

    def write(self, name, text):
        path = os.path.join(self.inst.root, name)
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
        return path

    def home(self, address):
        local, domain = address.split("@")
        return os.path.join(self.inst.mail_dir, domain, local)


class Vacation(Base):
    def show(self):
        return json.loads(self.v("--json", "user", "show", "alice@example.com", check=0).stdout)

    def show_line(self):
        lines = self.v("user", "show", "alice@example.com", check=0).stdout.splitlines()
        return [l for l in lines if l.startswith("vacation:")][0].split(None, 1)[1]

    def test_settings_shown_and_every_change_logged(self):
        text = "Back on \"Monday\".\nUrgent: call Bob. Grüße\n"
        msg = self.write("away.txt", text)
        size = len(text.encode())
        self.assertIsNone(self.show()["vacation"])
        self.assertEqual(self.show_line(), "off")

        self.v("user", "vacation", "alice@example.com", "--subject", "Out of office", "--message-file", msg,
               "--until", "2099-12-31", check=0)
        self.assertEqual(self.show()["vacation"], {"subject": "Out of office", "until": "2099-12-31",
                                                   "message": text})
        self.assertEqual(self.show_line(), 'on, subject "Out of office", until 2099-12-31')
        first = self.log()[0]
        self.assertEqual((first["command"], first["action"], first["object"]),
                         ("user vacation", "user vacation", "alice@example.com"))
        self.assertIsNone(first["old"])
        self.assertEqual(first["new"], {"subject": "Out of office", "until": "2099-12-31", "message_bytes": size})

        self.v("user", "vacation", "alice@example.com", "--subject", "Away", "--message-file", msg, check=0)
        self.assertEqual(self.show()["vacation"]["until"], None)
        second = self.log()[0]
        self.assertEqual(second["old"], first["new"])
        self.assertEqual(second["new"], {"subject": "Away", "until": None, "message_bytes": size})

        self.v("user", "vacation", "alice@example.com", "--off", check=0)
        self.assertIsNone(self.show()["vacation"])
        third = self.log()[0]
        self.assertEqual((third["old"], third["new"]), (second["new"], None))
        # Off again changes nothing, and so logs nothing.
        before = self.log()
        self.v("user", "vacation", "alice@example.com", "--off", check=0)
        self.assertEqual(self.log(), before)

    def test_a_script_vmail_did_not_write_is_not_trusted(self):
        msg = self.write("away.txt", "Gone.\n")
        self.v("user", "vacation", "alice@example.com", "--subject", "Away", "--message-file", msg, check=0)
        script = os.path.join(self.home("alice@example.com"), ".vmail-vacation.sieve")
        with open(script, "a") as f:
            f.write('redirect "evil@example.org";\n')
        self.assertIn("not written by vmail", self.show()["vacation"]["error"])
        self.assertIn("unknown", self.show_line())
        # A symlink in its place is never followed.
        secret = self.write("secret.sieve", open(script).read().split("redirect")[0])
        os.remove(script)
        os.symlink(secret, script)
        self.assertIn("error", self.show()["vacation"])
        # Turning it off records what was there.
        self.v("user", "vacation", "alice@example.com", "--off", check=0)
        self.assertFalse(os.path.lexists(script))
        self.assertTrue(os.path.exists(secret))
        self.assertIsNone(self.log()[0]["new"])


class EveryChangeAudited(Base):
    def test_each_mutating_command_writes_one_entry(self):
        msg = self.write("away.txt", "Gone.\n")
        users = self.write("users.csv", f"email,password_hash\ncarol@example.com,{GOOD_HASH}\n")
        aliases = self.write("aliases.csv", "source,destination\ninfo@example.com,carol@example.com\n")
        v = self.v
        commands = [
            ("domain add", ["domain", "add", "other.org"]),
            ("domain alias add", ["domain", "alias", "add", "example.net", "example.com"]),
            ("domain dkim", ["domain", "dkim", "other.org", "--rotate", "--selector", "two"]),
            ("domain dkim", ["domain", "dkim", "other.org", "--algorithm", "ed25519", "--selector", "ed"]),
            ("domain dkim", ["domain", "dkim", "other.org", "--remove", "ed"]),
            ("user add", ["user", "add", "bob@example.com", "--hash", GOOD_HASH]),
            ("user passwd", ["user", "passwd", "bob@example.com", "--hash", GOOD_HASH]),
            ("user quota", ["user", "quota", "bob@example.com", "1G"]),
            ("user disable", ["user", "disable", "bob@example.com"]),
            ("user enable", ["user", "enable", "bob@example.com"]),
            ("user forward", ["user", "forward", "bob@example.com", "x@other.org"]),
            ("user forward", ["user", "forward", "bob@example.com", "--off"]),
            ("user access", ["user", "access", "bob@example.com", "imap=off"]),
            ("user vacation", ["user", "vacation", "bob@example.com", "--subject", "Away", "--message-file", msg]),
            ("user vacation", ["user", "vacation", "bob@example.com", "--off"]),
            ("alias add", ["alias", "add", "sales@example.com", "bob@example.com"]),
            ("alias del", ["alias", "del", "sales@example.com"]),
            ("user import", ["user", "import", users]),
            ("alias import", ["alias", "import", aliases]),
            ("user del", ["user", "del", "bob@example.com", "--purge", "--yes"]),
            ("domain alias del", ["domain", "alias", "del", "example.net"]),
            ("domain del", ["domain", "del", "other.org", "--purge", "--yes"]),
        ]
        for command, argv in commands:
            with self.subTest(argv=argv):
                before = len(self.log())
                v(*argv, check=0)
                entries = self.log()
                self.assertEqual(len(entries), before + 1, f"vmail {' '.join(argv)} wrote no audit entry")
                self.assertEqual(entries[0]["command"], command)


class Purge(Base):
    def setUp(self):
        super().setUp()
        self.v("alias", "add", "sales@example.com", "alice@example.com", check=0)
        self.v("domain", "alias", "add", "example.net", "example.com", check=0)

    def assert_unchanged(self, db_before, homes=("alice@example.com",)):
        self.assertEqual(self.inst.dump_db(), db_before)
        for address in homes:
            self.assertTrue(os.path.isdir(self.home(address)))

    def test_without_a_terminal_and_without_yes_refused_in_one_line(self):
        for argv in (["user", "del", "alice@example.com", "--purge"],
                     ["domain", "del", "example.com", "--force", "--purge"]):
            with self.subTest(argv=argv):
                before = self.inst.dump_db()
                p = self.v(*argv, input="y\n", check=64)
                lines = p.stderr.strip().splitlines()
                self.assertEqual(len(lines), 1, p.stderr)
                self.assertIn("--yes", lines[0])
                self.assertIn("terminal", lines[0])
                self.assert_unchanged(before)
        self.v("user", "del", "alice@example.com", "--purge", "--yes", check=0)
        self.assertFalse(os.path.exists(self.home("alice@example.com")))

    def test_asks_on_a_terminal(self):
        before = self.inst.dump_db()
        code, out = run_on_terminal(self.inst.env, ["user", "del", "alice@example.com", "--purge"], "n")
        self.assertEqual(code, 64, out)
        self.assertIn("[y/N]", out)
        self.assertIn(self.home("alice@example.com"), out)
        self.assertIn("not confirmed", out)
        self.assert_unchanged(before)
        code, out = run_on_terminal(self.inst.env, ["domain", "del", "example.com", "--force", "--purge"], "y")
        self.assertEqual(code, 0, out)
        self.assertFalse(os.path.exists(os.path.join(self.inst.mail_dir, "example.com")))
        self.assertEqual(json.loads(self.v("--json", "domain", "list", check=0).stdout), [])

    def test_dry_run_lists_what_would_go_and_changes_nothing(self):
        keys = {d: [k["selector"] for k in json.loads(self.v("--json", "domain", "dkim", d, check=0).stdout)]
                for d in ("example.com", "example.net")}
        before = self.inst.dump_db()
        files = self.inst.exported_files()
        p = self.v("--json", "domain", "del", "example.com", "--force", "--purge", "--dry-run", check=0)
        plan = json.loads(p.stdout)
        self.assertEqual(plan["domains"], ["example.com"])
        self.assertEqual(plan["alias_domains"], ["example.net"])
        self.assertEqual(plan["users"], ["alice@example.com"])
        self.assertEqual(plan["aliases"], ["sales@example.com"])
        self.assertEqual(plan["maildirs"], [os.path.join(self.inst.mail_dir, "example.com")])
        self.assertEqual(sorted((k["domain"], k["selector"]) for k in plan["dkim_keys"]),
                         sorted((d, s) for d, sel in keys.items() for s in sel))
        # As text, and -q keeps the list (it is what was asked for).
        text = self.v("-q", "domain", "del", "example.com", "--force", "--purge", "--dry-run", check=0).stdout
        for item in ("alice@example.com", "sales@example.com", "example.net", keys["example.com"][0],
                     os.path.join(self.inst.mail_dir, "example.com")):
            self.assertIn(item, text)
        user = json.loads(self.v("--json", "user", "del", "alice@example.com", "--purge", "--dry-run",
                                 check=0).stdout)
        self.assertEqual((user["users"], user["maildirs"]), (["alice@example.com"], [self.home("alice@example.com")]))
        # Refused as the real command would be.
        p = self.v("domain", "del", "example.com", "--dry-run", check=65)
        self.assertIn("use --force", p.stderr)
        self.v("user", "del", "nobody@example.com", "--purge", "--dry-run", check=67)
        self.assert_unchanged(before)
        self.assertEqual(self.inst.exported_files(), files)


class UserAddExisting(Base):
    def test_existing_address_refused_before_the_password(self):
        self.v("alias", "add", "sales@example.com", "alice@example.com", check=0)
        before = self.inst.dump_db()
        for address, text in (("alice@example.com", "already exists"), ("ALICE@example.com", "already exists"),
                              ("sales@example.com", "alias")):
            with self.subTest(address=address):
                # No --password-stdin and no terminal: asking for a password
                # would be exit 64; the address is refused first.
                p = self.v("user", "add", address, check=65)
                lines = p.stderr.strip().splitlines()
                self.assertEqual(len(lines), 1, p.stderr)
                self.assertIn(text, lines[0])
                self.assertNotIn("password", lines[0])
        self.assertEqual(self.inst.dump_db(), before)


class QuietKeepsData(Base):
    def test_q_silences_confirmations_not_data(self):
        v = self.v
        for argv in (["domain", "add", "other.org"], ["alias", "add", "sales@example.com", "alice@example.com"],
                     ["user", "quota", "alice@example.com", "1G"], ["export"], ["db", "migrate"],
                     ["user", "access", "alice@example.com", "pop3=off"]):
            with self.subTest(argv=argv):
                p = v("-q", *argv, check=0)
                self.assertEqual(p.stdout, "")
        p = v("-q", "user", "add", "bob@example.com", "--password-stdin", input="correct horse\n", check=0)
        self.assertEqual(p.stdout + p.stderr, "")
        for argv in (["user", "list"], ["user", "show", "alice@example.com"], ["domain", "list"],
                     ["alias", "list"], ["log"], ["db", "status"], ["domain", "dns", "example.com"],
                     ["domain", "dkim", "example.com"], ["getent", "passwd"], ["user", "access", "alice@example.com"]):
            with self.subTest(argv=argv):
                plain = v(*argv, check=0).stdout
                quiet = v("-q", *argv, check=0).stdout
                self.assertNotEqual(quiet, "")
                self.assertEqual(quiet, plain)
        # health: nothing listens here; the report is still printed.
        p = v("-q", "health", "--timeout", "0.2", check=1)
        self.assertIn("unhealthy", p.stdout)


class TableWidth(Base):
    def test_columns_aligned_by_display_width(self):
        for local, name in (("zoe", "Zoë Ça\u0300lik"), ("taro", "山田太郎"), ("plain", "Plain Name")):
            self.inst.add_user(f"{local}@example.com", "correct horse", "--name", name)
        lines = self.v("user", "list", check=0).stdout.splitlines()
        self.assertEqual(len(lines), 5)
        # The QUOTA column starts at the same terminal column on every line.
        starts = set()
        for line in lines:
            head = line[:line.index("none" if "none" in line else "QUOTA")]
            starts.add(width(head))
        self.assertEqual(len(starts), 1, "\n".join(lines))


class UnknownCommand(InstanceTestCase):
    def test_names_the_word_and_the_nearest_command(self):
        cases = [
            (["user", "ad", "x@example.com"], 'vmail: unknown command "ad"; did you mean "add"?'),
            (["usr", "list"], 'vmail: unknown command "usr"; did you mean "user"?'),
            (["domain", "lst"], 'vmail: unknown command "lst"; did you mean "list"?'),
            (["--json", "alias", "dle", "x@example.com"], 'vmail: unknown command "dle"; did you mean "del"?'),
            (["domain", "alias", "ad", "a.org", "b.org"], 'vmail: unknown command "ad"; did you mean "add"?'),
            (["user", "frobnicate"], 'vmail: unknown command "frobnicate" (see vmail user --help)'),
        ]
        for argv, line in cases:
            with self.subTest(argv=argv):
                p = self.inst.vmail(*argv, check=64)
                self.assertEqual(p.stderr, line + "\n")
                self.assertEqual(p.stdout, "")


if __name__ == "__main__":
    unittest.main()
