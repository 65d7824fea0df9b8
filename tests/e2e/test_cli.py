"""End-to-end tests of the vmail CLI (issue: foundation): the real program
against a real SQLite database under a private VMAIL_ROOT."""

import json
import os
import pty
import signal
import sqlite3
import subprocess
import termios
import time
import unittest

from harness import SOURCE_DIR, VMAIL, InstanceTestCase, run_with_memory_limit

# A well-formed SHA512-CRYPT hash (of "password"); check_hash looks at salt and checksum.
GOOD_HASH = "{SHA512-CRYPT}$6$salt$IxDD3jeSOb5eB1CX5LBsqZFVkJdido3OUILO5Ifz5iwMuTS4XMS130MTSuDDl3aCI6WouIL9AjRbLCelDCy.g."


def wait_or_kill(pid, timeout=30):
    """Waits for a child; kills it after `timeout` seconds so that a stuck
    prompt never hangs the suite. Returns its wait status."""
    deadline = time.time() + timeout
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return status
        if time.time() > deadline:
            os.kill(pid, signal.SIGKILL)
            return os.waitpid(pid, 0)[1]
        time.sleep(0.05)


class CliTour(InstanceTestCase):
    def test_domain_user_alias_lifecycle(self):
        v = self.inst.vmail
        v("domain", "add", "Example.COM", check=0)
        self.inst.add_user("Alice@example.com", "correct horse", "--name", "Alice Example", "--quota", "2G")
        v("alias", "add", "sales@example.com", "alice@example.com,bob@other.org", check=0)
        v("alias", "add", "@example.com", "alice@example.com", check=0)

        users = json.loads(v("--json", "user", "list", check=0).stdout)
        self.assertEqual(len(users), 1)
        u = users[0]
        self.assertEqual(list(u.keys()), ["address", "domain", "name", "quota", "enabled", "created"])
        self.assertEqual(u["address"], "alice@example.com")
        self.assertEqual(u["quota"], 2 << 30)
        self.assertIs(u["enabled"], True)
        shown = json.loads(v("--json", "user", "show", "ALICE@example.com", check=0).stdout)
        # show adds the account features after the list fields.
        self.assertEqual(shown.pop("access"), {s: True for s in ("imap", "pop3", "sieve", "send", "receive")})
        self.assertIsNone(shown.pop("usage"))  # no server configured here
        self.assertIsNone(shown.pop("forward"))
        self.assertIsNone(shown.pop("vacation"))
        # The send limit (issue 25): none of its own, so VMAIL_SEND_LIMIT's 500.
        self.assertIsNone(shown.pop("send_limit"))
        self.assertEqual(shown.pop("send_limit_per_hour"), 500)
        self.assertEqual(shown, u)

        domains = json.loads(v("--json", "domain", "list", check=0).stdout)
        self.assertEqual(domains, [{"name": "example.com", "users": 1, "aliases": 2, "alias_of": None}])
        aliases = json.loads(v("--json", "alias", "list", "example.com", check=0).stdout)
        self.assertEqual(aliases, [
            {"source": "@example.com", "destinations": ["alice@example.com"]},
            {"source": "sales@example.com", "destinations": ["alice@example.com", "bob@other.org"]},
        ])

        v("user", "disable", "alice@example.com", check=0)
        self.assertIs(json.loads(v("--json", "user", "show", "alice@example.com").stdout)["enabled"], False)
        v("user", "enable", "alice@example.com", check=0)
        v("user", "quota", "alice@example.com", "none", check=0)
        self.assertIsNone(json.loads(v("--json", "user", "show", "alice@example.com").stdout)["quota"])
        v("user", "passwd", "alice@example.com", "--hash", GOOD_HASH, check=0)

        v("alias", "del", "sales@example.com", "bob@other.org", check=0)
        v("alias", "del", "@example.com", check=0)
        self.assertEqual(json.loads(v("--json", "alias", "list").stdout),
                         [{"source": "sales@example.com", "destinations": ["alice@example.com"]}])

        # A maildir owned by VMAIL_UID:VMAIL_GID, mode 0700.
        maildir = os.path.join(self.inst.mail_dir, "example.com/alice/Maildir")
        for sub in ("", "cur", "new", "tmp"):
            st = os.stat(os.path.join(maildir, sub))
            self.assertEqual(st.st_mode & 0o777, 0o700)
            self.assertEqual((st.st_uid, st.st_gid), (5000, 5000))

        v("user", "del", "alice@example.com", check=0)
        self.assertTrue(os.path.isdir(maildir), "del without --purge keeps the maildir")
        self.inst.add_user("carol@example.com")
        v("user", "del", "carol@example.com", "--purge", "--yes", check=0)
        self.assertFalse(os.path.exists(os.path.join(self.inst.mail_dir, "example.com/carol")))
        self.assertTrue(os.path.isdir(maildir), "--purge removes only that user's maildir")

    def test_domain_del_refuses_while_in_use(self):
        v = self.inst.vmail
        v("domain", "add", "example.com", check=0)
        self.inst.add_user("alice@example.com")
        p = v("domain", "del", "example.com", check=65)
        self.assertIn("in use", p.stderr)
        self.assertEqual(len(p.stderr.strip().splitlines()), 1)
        v("domain", "del", "example.com", "--force", "--purge", "--yes", check=0)
        self.assertEqual(json.loads(v("--json", "domain", "list").stdout), [])
        self.assertEqual(json.loads(v("--json", "user", "list").stdout), [])
        self.assertFalse(os.path.exists(os.path.join(self.inst.mail_dir, "example.com")))

    def test_purge_never_follows_symlink(self):
        v = self.inst.vmail
        v("domain", "add", "example.com", check=0)
        self.inst.add_user("mallory@example.com")
        outside = os.path.join(self.inst.root, "outside")
        os.makedirs(outside)
        with open(os.path.join(outside, "precious"), "w") as f:
            f.write("keep")
        os.symlink(outside, os.path.join(self.inst.mail_dir, "example.com/mallory/Maildir/cur/escape"))
        v("user", "del", "mallory@example.com", "--purge", "--yes", check=0)
        self.assertTrue(os.path.exists(os.path.join(outside, "precious")))
        self.assertFalse(os.path.exists(os.path.join(self.inst.mail_dir, "example.com/mallory")))

    def test_password_prompt_twice_without_echo_on_a_terminal(self):
        self.inst.vmail("domain", "add", "example.com", check=0)
        pid, fd = pty.fork()
        if pid == 0:
            os.execve(VMAIL, [VMAIL, "user", "add", "tty@example.com"], self.inst.env)
        out = b""

        def read_until(marker):
            nonlocal out
            deadline = time.time() + 30
            while marker not in out and time.time() < deadline:
                try:
                    out += os.read(fd, 1024)
                except OSError:
                    break

        read_until(b"Password: ")
        os.write(fd, b"tty-password-1\n")
        read_until(b"Repeat password: ")
        os.write(fd, b"tty-password-1\n")
        read_until(b"added")
        status = wait_or_kill(pid)
        os.close(fd)
        self.assertEqual(os.waitstatus_to_exitcode(status), 0, out)
        self.assertNotIn(b"tty-password-1", out, "the password is never echoed")
        with open(os.path.join(self.inst.dovecot_dir, "users")) as f:
            line = f.read()
        h = line.split(":")[1]
        check = subprocess.run(["doveadm", "pw", "-t", h, "-p", "tty-password-1"], capture_output=True)
        self.assertEqual(check.returncode, 0, check.stderr)

    def test_ctrl_c_at_the_password_prompt_restores_echo(self):
        # Regression: Ctrl-C at the prompt left the terminal without echo.
        self.inst.vmail("domain", "add", "example.com", check=0)
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            with self.subTest(signal=sig):
                pid, fd = pty.fork()
                if pid == 0:
                    os.execve(VMAIL, [VMAIL, "user", "add", "tty@example.com"], self.inst.env)
                out = b""
                deadline = time.time() + 30
                while b"Password: " not in out and time.time() < deadline:
                    out += os.read(fd, 1024)
                self.assertIn(b"Password: ", out)
                self.assertFalse(termios.tcgetattr(fd)[3] & termios.ECHO, "echo is off while the prompt is up")
                if sig == signal.SIGINT:
                    os.write(fd, b"half-typed\x03")  # Ctrl-C: the terminal sends SIGINT
                else:
                    os.kill(pid, sig)
                status = wait_or_kill(pid)
                lflag = termios.tcgetattr(fd)[3]
                os.close(fd)
                # Dead of the signal itself: a shell reports 128+N (130 for
                # Ctrl-C) and stops a loop.
                self.assertEqual(os.waitstatus_to_exitcode(status), -sig, out)
                self.assertTrue(lflag & termios.ECHO, "echo is back on")
        self.inst.vmail("user", "show", "tty@example.com", check=67)

    def test_password_schemes_from_settings(self):
        self.inst.vmail("domain", "add", "example.com", check=0)
        for scheme, prefix in (("BLF-CRYPT", "{BLF-CRYPT}$2b$"), ("YESCRYPT", "{CRYPT}$y$"),
                               ("SHA512-CRYPT", "{SHA512-CRYPT}$6$")):
            local = scheme.lower().replace("-", "")
            self.inst.vmail("user", "add", f"{local}@example.com", "--password-stdin",
                            input="scheme password\n", env={"VMAIL_PASSWORD_SCHEME": scheme}, check=0)
            with open(os.path.join(self.inst.dovecot_dir, "users")) as f:
                line = [l for l in f if l.startswith(local + "@")][0]
            h = line.split(":")[1]
            self.assertTrue(h.startswith(prefix), h)
            check = subprocess.run(["doveadm", "pw", "-t", h, "-p", "scheme password"], capture_output=True)
            self.assertEqual(check.returncode, 0, check.stderr)


class HostileInput(InstanceTestCase):
    """Every refused command: documented exit status, one stderr line naming
    the field, and the database and exported files byte-identical."""

    HOSTILE = [
        # (argv, stdin, exit status, text the one stderr line must contain)
        (["domain", "add", "localhost"], None, 65, "domain"),
        (["domain", "add", "exa mple.com"], None, 65, "domain"),
        (["domain", "add", "example.com"], None, 65, "already exists"),
        (["domain", "add", "evil.com\nbad"], None, 65, "domain"),
        (["domain", "del", "example.com"], None, 65, "in use"),
        (["domain", "del", "nope.org"], None, 67, "no such domain"),
        (["user", "add", "bob@@example.com", "--password-stdin"], "longenough\n", 65, "address"),
        (["user", "add", "bob+x@example.com", "--password-stdin"], "longenough\n", 65, "address"),
        (["user", "add", "bob:x@example.com", "--password-stdin"], "longenough\n", 65, "address"),
        (["user", "add", "bob\n@example.com", "--password-stdin"], "longenough\n", 65, "address"),
        (["user", "add", "../../etc@example.com", "--password-stdin"], "longenough\n", 65, "address"),
        (["user", "add", "x" * 65 + "@example.com", "--password-stdin"], "longenough\n", 65, "address"),
        (["user", "add", "Alice@example.com", "--password-stdin"], "longenough\n", 65, "already exists"),
        (["user", "add", "sales@example.com", "--password-stdin"], "longenough\n", 65, "alias"),
        (["user", "add", "bob@unknown.org", "--password-stdin"], "longenough\n", 67, "no such domain"),
        (["user", "add", "bob@example.com", "--password-stdin"], "short\n", 65, "password"),
        (["user", "add", "bob@example.com", "--password-stdin"], "x" * 512 + "\n", 65, "password"),
        (["user", "add", "bob@example.com", "--password-stdin"], "bad\x01password\n", 65, "password"),
        (["user", "add", "bob@example.com", "--password-stdin"], "", 65, "password"),
        (["user", "add", "bob@example.com"], None, 64, "password"),
        (["user", "add", "bob@example.com", "--password-stdin", "--hash", "{SHA512-CRYPT}$6$a$b"], "longenough\n",
         64, "hash"),
        (["user", "add", "bob@example.com", "--hash", "{PLAIN}secret"], None, 65, "hash"),
        (["user", "add", "bob@example.com", "--hash", "{SHA512-CRYPT}$6$a:b$c"], None, 65, "hash"),
        (["user", "add", "bob@example.com", "--hash", "{SHA512-CRYPT}$6$a b"], None, 65, "hash"),
        (["user", "add", "bob@example.com", "--hash", "{SHA512-CRYPT}$6$a\nb"], None, 65, "hash"),
        # Hashes and A-labels checked at depth (issue: validation at library depth).
        (["user", "add", "new@example.com", "--hash", "{SHA512-CRYPT}$6$"], None, 65, "--hash"),
        (["user", "add", "new@example.com", "--hash", "{SHA512-CRYPT}$6$salt$abc"], None, 65, "--hash"),
        (["user", "add", "new@example.com", "--hash", "{BLF-CRYPT}$2y$05$short"], None, 65, "53 of"),
        (["user", "add", "new@example.com", "--hash", "{MD5-CRYPT}$1$u9.QcWLk$V1DICZVf6OhQfj32DR6BK0"], None, 65,
         "legacy"),
        (["user", "add", "new@example.com", "--hash", "{CRYPT}$y$jZT$salt$" + "a" * 43], None, 65, "yescrypt"),
        (["user", "passwd", "alice@example.com", "--hash", "{SHA512-CRYPT}$6$rounds=10$salt$" + "a" * 86], None, 65,
         "rounds"),
        (["domain", "add", "xn--a.test"], None, 65, "domain"),
        (["domain", "add", "xn--zz.test"], None, 65, "domain"),
        (["domain", "add", "xn--.test"], None, 65, "domain"),
        (["user", "add", "bob@xn--a.test", "--password-stdin"], "longenough\n", 65, "address"),
        (["alias", "add", "sales@example.com", "x@xn--n3h.test"], None, 65, "destination"),
        (["user", "add", "bob@example.com", "--password-stdin", "--name", "a:b"], "longenough\n", 65, "name"),
        (["user", "add", "bob@example.com", "--password-stdin", "--name", "a\nb"], "longenough\n", 65, "name"),
        (["user", "add", "bob@example.com", "--password-stdin", "--name", "n" * 129], "longenough\n", 65, "name"),
        (["user", "add", "bob@example.com", "--password-stdin", "--quota", "12X"], "longenough\n", 65, "quota"),
        (["user", "add", "bob@example.com", "--password-stdin", "--quota", "-1"], "longenough\n", 65, "quota"),
        (["user", "add", "bob@example.com", "--password-stdin", "--quota", "1\n2"], "longenough\n", 65, "quota"),
        (["user", "del", "nobody@example.com"], None, 67, "no such user"),
        (["user", "passwd", "nobody@example.com", "--hash", GOOD_HASH], None, 67, "no such user"),
        (["user", "passwd", "alice@example.com", "--hash", "{X}y"], None, 65, "hash"),
        (["user", "quota", "alice@example.com", "lots"], None, 65, "quota"),
        (["user", "quota", "alice@example.com", "0"], None, 65, "use none"),
        (["user", "add", "bob@example.com", "--password-stdin", "--quota", "0"], "longenough\n", 65, "quota"),
        (["user", "access", "alice@example.com", "ftp=off"], None, 65, "unknown service"),
        (["user", "access", "alice@example.com", "imap=maybe"], None, 65, "imap=on"),
        (["user", "access", "alice@example.com", "imap=on", "imap=off"], None, 65, "contradicts"),
        (["user", "access", "nobody@example.com", "imap=off"], None, 67, "no such user"),
        (["user", "vacation", "alice@example.com", "--subject", "a\nb", "--message-file", "/dev/null"], None, 65,
         "--subject"),
        (["user", "vacation", "alice@example.com", "--subject", "Away", "--message-file", "/nonexistent/msg"], None, 66,
         "--message-file"),
        (["user", "quota", "nobody@example.com", "1G"], None, 67, "no such user"),
        (["user", "disable", "nobody@example.com"], None, 67, "no such user"),
        (["user", "show", "nobody@example.com"], None, 67, "no such user"),
        (["user", "list", "unknown.org"], None, 67, "no such domain"),
        (["alias", "add", "alice@example.com", "bob@other.org"], None, 65, "mailbox"),
        (["alias", "add", "sales@example.com", "alice@example.com"], None, 65, "already a destination"),
        (["alias", "add", "sales@example.com", "bad@@dest"], None, 65, "destination"),
        (["alias", "add", "sales@example.com", "ok@x.org,bad\ndest@x.org"], None, 65, "destination"),
        (["alias", "add", "sales@example.com", "x@y.org,x@y.org"], None, 65, "twice"),
        (["alias", "add", "loop@example.com", "loop@example.com"], None, 65, "itself"),
        (["alias", "add", "x@unknown.org", "alice@example.com"], None, 67, "no such domain"),
        (["alias", "add", "@localhost", "alice@example.com"], None, 65, "source"),
        (["alias", "del", "nobody@example.com"], None, 67, "no such alias"),
        (["alias", "del", "sales@example.com", "nobody@x.org"], None, 67, "not a destination"),
        (["user", "frobnicate"], None, 64, ""),
        (["--uid", "0", "user", "list"], None, 78, "VMAIL_UID"),
        (["--map-type", "btree", "user", "list"], None, 78, "VMAIL_MAP_TYPE"),
    ]

    def setUp(self):
        super().setUp()
        v = self.inst.vmail
        v("domain", "add", "example.com", check=0)
        self.inst.add_user("alice@example.com")
        v("alias", "add", "sales@example.com", "alice@example.com", check=0)

    def test_hostile_commands_change_nothing(self):
        for argv, stdin, code, text in self.HOSTILE:
            with self.subTest(argv=argv):
                db_before = self.inst.dump_db()
                files_before = self.inst.exported_files()
                p = self.inst.vmail(*argv, input=stdin if stdin is not None else "")
                self.assertEqual(p.returncode, code, p.stderr)
                lines = p.stderr.strip().splitlines()
                self.assertEqual(len(lines), 1, p.stderr)
                self.assertIn(text, lines[0])
                self.assertEqual(self.inst.dump_db(), db_before)
                self.assertEqual(self.inst.exported_files(), files_before)

    def test_newer_database_is_refused_untouched(self):
        con = sqlite3.connect(self.inst.db)
        con.execute("PRAGMA user_version = 999")
        con.close()
        with open(self.inst.db, "rb") as f:
            before = f.read()
        p = self.inst.vmail("user", "list", check=78)
        self.assertIn("newer", p.stderr)
        with open(self.inst.db, "rb") as f:
            self.assertEqual(f.read(), before)


# A mark inside each hostile hash: the part a message must never repeat.
SECRET = "Zq7SECRETzq"
BAD_HASHES = [
    "{SHA512-CRYPT}$6$salt$" + SECRET,        # checksum too short
    "{SHA512-CRYPT}$6$" + SECRET + "$" + "a" * 86 + "!",
    "{" + SECRET + "}abcdefgh",                # unknown scheme
    "{PLAIN}" + SECRET,
    SECRET + "{SHA512-CRYPT}",                 # no scheme first
    "{SHA512-CRYPT}$6$salt$" + SECRET + ":x",  # ':'
    "{SHA512-CRYPT}$6$salt$" + SECRET + " x",  # white space
    "{SHA512-CRYPT}$6$salt$" + SECRET + "\u00e9",  # non-ASCII
    "{CRYPT}$y$jZT$" + SECRET + "$" + "a" * 43,
]


class Secrets(InstanceTestCase):
    """Issue 22: a hash never reaches a message, JSON or the audit log;
    --hash-stdin keeps it out of the process list; files and lines read whole
    are refused over their limit before they are read."""

    def setUp(self):
        super().setUp()
        self.inst.vmail("domain", "add", "example.com", check=0)
        self.inst.add_user("alice@example.com")

    def run_limited(self, *args, stdin=None):
        return run_with_memory_limit([VMAIL, *args], self.inst.env, stdin=stdin, capture_output=True, text=True,
                                     timeout=120)

    def assert_refused(self, p, code, *words):
        """Exit `code`, one stderr line holding `words`, nothing changed."""
        self.assertEqual(p.returncode, code, p.stderr)
        lines = p.stderr.strip().splitlines()
        self.assertEqual(len(lines), 1, p.stderr)
        for word in words:
            self.assertIn(word, lines[0])
        self.assertEqual(self.inst.dump_db(), self.db_before)
        self.assertEqual(self.inst.exported_files(), self.files_before)

    def snapshot(self):
        self.db_before = self.inst.dump_db()
        self.files_before = self.inst.exported_files()

    def test_a_bad_hash_is_never_echoed(self):
        self.snapshot()
        v = self.inst.vmail
        for bad in BAD_HASHES:
            for argv, stdin, field in (
                    (["user", "add", "bob@example.com", "--hash", bad], None, "--hash"),
                    (["user", "passwd", "alice@example.com", "--hash", bad], None, "--hash"),
                    (["user", "add", "bob@example.com", "--hash-stdin"], bad + "\n", "--hash-stdin"),
                    (["user", "passwd", "alice@example.com", "--hash-stdin"], bad + "\n", "--hash-stdin"),
                    (["--json", "user", "add", "bob@example.com", "--hash-stdin"], bad + "\n", "--hash-stdin")):
                with self.subTest(argv=argv, hash=bad):
                    p = v(*argv, input=stdin if stdin is not None else "")
                    self.assert_refused(p, 65, field)
                    self.assertNotIn(SECRET, p.stdout + p.stderr)
        # A hash where CLI11 did not expect one: usage (64), still not repeated.
        p = v("user", "add", "bob@example.com", "--hash", GOOD_HASH, BAD_HASHES[0])
        self.assert_refused(p, 64)
        self.assertNotIn(SECRET, p.stderr)
        self.assertNotIn(GOOD_HASH, p.stderr)

    def test_hash_stdin_sets_the_hash_and_no_output_shows_it(self):
        v = self.inst.vmail
        other = GOOD_HASH.replace("$salt$", "$othersalt$")
        v("user", "add", "bob@example.com", "--hash-stdin", input=GOOD_HASH + "\r\n", check=0)
        v("user", "passwd", "alice@example.com", "--hash-stdin", input=other + "\n", check=0)
        with open(os.path.join(self.inst.dovecot_dir, "users")) as f:
            users = f.read()
        self.assertIn(f"bob@example.com:{GOOD_HASH}:", users)
        self.assertIn(f"alice@example.com:{other}:", users)
        for argv in (["--json", "user", "show", "bob@example.com"], ["user", "show", "bob@example.com"],
                     ["--json", "user", "list"], ["--json", "log"], ["log"]):
            out = v(*argv, check=0).stdout
            self.assertNotIn("$6$", out, argv)
        con = sqlite3.connect(self.inst.db)
        try:
            audit = repr(con.execute("SELECT * FROM audit_log").fetchall())
        finally:
            con.close()
        self.assertNotIn("$6$", audit)

    def test_hash_stdin_excludes_the_other_password_inputs(self):
        self.snapshot()
        v = self.inst.vmail
        for argv in (["--hash-stdin", "--hash", GOOD_HASH], ["--hash-stdin", "--password-stdin"],
                     ["--password-stdin", "--hash-stdin"]):
            with self.subTest(argv=argv):
                p = v("user", "add", "bob@example.com", *argv, input=GOOD_HASH + "\n")
                self.assert_refused(p, 64, "--hash-stdin")
        p = v("user", "add", "bob@example.com", "--hash-stdin", input="")
        self.assert_refused(p, 65, "--hash-stdin", "nothing on standard input")
        p = v("user", "add", "bob@example.com", "--hash-stdin", input=GOOD_HASH + "x" * 5000 + "\n")
        self.assert_refused(p, 65, "--hash-stdin", "longer than 4 KiB")
        self.assertNotIn("$6$", p.stderr)

    def test_endless_standard_input_is_refused_past_its_limit(self):
        self.snapshot()
        with open("/dev/zero") as zero:
            p = self.run_limited("user", "add", "bob@example.com", "--password-stdin", stdin=zero)
        self.assert_refused(p, 65, "password", "longer than 4 KiB")
        with open("/dev/zero") as zero:
            p = self.run_limited("user", "passwd", "alice@example.com", "--hash-stdin", stdin=zero)
        self.assert_refused(p, 65, "--hash-stdin", "longer than 4 KiB")

    def test_vacation_message_over_64_kib_is_refused_unread(self):
        self.snapshot()
        sparse = os.path.join(self.inst.root, "huge.txt")
        with open(sparse, "wb") as f:
            f.truncate(8 << 30)  # 8 GiB of nothing: more than the memory the program may use
        for path in ("/dev/zero", sparse):
            with self.subTest(path=path):
                p = self.run_limited("user", "vacation", "alice@example.com", "--subject", "Away",
                                     "--message-file", path)
                self.assert_refused(p, 65, "--message-file", path, "limit of 64 KiB")


class AliasLoops(InstanceTestCase):
    """Alias destinations never form a cycle (SPEC "Addresses and passwords")."""

    def test_three_alias_cycle_is_refused_and_changes_nothing(self):
        v = self.inst.vmail
        v("domain", "add", "d.org", check=0)
        v("alias", "add", "a1@d.org", "a2@d.org", check=0)
        v("alias", "add", "a2@d.org", "a3@d.org", check=0)
        db_before = self.inst.dump_db()
        files_before = self.inst.exported_files()
        p = v("alias", "add", "a3@d.org", "a1@d.org", check=65)
        self.assertEqual(p.stderr.strip().splitlines(),
                         ["vmail: alias: a3@d.org -> a1@d.org -> a2@d.org -> a3@d.org would loop"])
        self.assertEqual(self.inst.dump_db(), db_before)
        self.assertEqual(self.inst.exported_files(), files_before)

        csv = os.path.join(self.inst.root, "loop.csv")
        with open(csv, "w") as f:
            f.write("source,destination\nok@d.org,elsewhere@x.org\na3@d.org,a1@d.org\n")
        p = v("alias", "import", csv, check=65)
        self.assertIn("loop.csv:3: alias: a3@d.org -> a1@d.org -> a2@d.org -> a3@d.org would loop", p.stderr)
        self.assertEqual(self.inst.dump_db(), db_before)
        self.assertEqual(self.inst.exported_files(), files_before)


class LeftoverMaildir(InstanceTestCase):
    """`user del` without --purge keeps the maildir; a new user of the same
    address does not silently get that mail."""

    def test_user_add_refuses_a_maildir_with_mail_unless_reused(self):
        v = self.inst.vmail
        v("domain", "add", "example.com", check=0)
        self.inst.add_user("bob@example.com")
        maildir = os.path.join(self.inst.mail_dir, "example.com/bob/Maildir")
        with open(os.path.join(maildir, "new", "1.old"), "w") as f:
            f.write("Subject: for the old bob\n\nsecret\n")
        v("user", "del", "bob@example.com", check=0)
        db_before = self.inst.dump_db()
        files_before = self.inst.exported_files()
        p = v("user", "add", "bob@example.com", "--hash", GOOD_HASH, check=65)
        lines = p.stderr.strip().splitlines()
        self.assertEqual(len(lines), 1, p.stderr)
        self.assertIn('address "bob@example.com"', lines[0])
        self.assertIn("--reuse-maildir", lines[0])
        self.assertEqual(self.inst.dump_db(), db_before)
        self.assertEqual(self.inst.exported_files(), files_before)
        self.assertIn("--reuse-maildir", v("user", "add", "--help", check=0).stdout)

        v("user", "add", "bob@example.com", "--hash", GOOD_HASH, "--reuse-maildir", check=0)
        self.assertTrue(os.path.exists(os.path.join(maildir, "new", "1.old")))
        # An empty leftover maildir (no mail ever) is no reason to refuse.
        self.inst.add_user("carol@example.com")
        v("user", "del", "carol@example.com", check=0)
        v("user", "add", "carol@example.com", "--hash", GOOD_HASH, check=0)


class Concurrency(InstanceTestCase):
    def test_eight_writers_fifty_users_each(self):
        self.inst.vmail("domain", "add", "example.com", check=0)
        script = (
            'for i in $(seq 1 50); do echo "password-$i" | "$VMAIL" user add "w$W-$i@example.com" '
            '--password-stdin -q || { echo "FAIL w$W-$i $?" >&2; }; done')
        procs = []
        for w in range(8):
            env = dict(self.inst.env, VMAIL=VMAIL, W=str(w))
            procs.append(subprocess.Popen(["bash", "-c", script], env=env, stderr=subprocess.PIPE, text=True))
        errors = [p.communicate(timeout=600)[1] for p in procs]
        self.assertEqual("".join(errors), "")
        users = json.loads(self.inst.vmail("--json", "user", "list", check=0).stdout)
        self.assertEqual(len(users), 400)
        # The last export reflects the last commit.
        self.inst.vmail("export", "--check", check=0)
        with open(os.path.join(self.inst.dovecot_dir, "users")) as f:
            self.assertEqual(len(f.read().splitlines()), 400)


class Upkeep(InstanceTestCase):
    def test_db_status_never_creates_the_database(self):
        # Regression: `db status` created an empty database (and its folder).
        v = self.inst.vmail
        for args in (("db", "status"), ("--json", "db", "status")):
            p = v(*args, check=66)
            self.assertEqual(p.stdout, "")
            self.assertEqual(p.stderr.strip().splitlines(), [f"vmail: {self.inst.db}: no such database "
                                                             "(`vmail db migrate` creates it)"])
            self.assertFalse(os.path.exists(os.path.dirname(self.inst.db)))
        # An empty file is a database at version 0, every migration pending;
        # status reads it and writes nothing.
        os.makedirs(os.path.dirname(self.inst.db))
        open(self.inst.db, "wb").close()
        status = json.loads(v("--json", "db", "status", check=0).stdout)
        self.assertEqual(status, {"version": 0, "latest": status["latest"], "pending": status["latest"]})
        self.assertGreaterEqual(status["latest"], 1)
        self.assertEqual(os.path.getsize(self.inst.db), 0)

    def test_db_status_migrate_check_backup(self):
        v = self.inst.vmail
        v("db", "migrate", check=0)
        status = json.loads(v("--json", "db", "status", check=0).stdout)
        self.assertEqual(status["pending"], 0)
        self.assertEqual(os.stat(self.inst.db).st_mode & 0o777, 0o600)
        v("domain", "add", "example.com", check=0)
        self.inst.add_user("alice@example.com")
        v("db", "check", check=0)
        # SQLite 3.40's integrity_check once misread alias_destinations
        # (migration 0002): with an alias, the check must still pass.
        v("alias", "add", "team@example.com", "alice@example.com,bob@elsewhere.net", check=0)
        v("db", "check", check=0)
        v("alias", "del", "team@example.com", check=0)

        # A backup taken while another process writes is consistent.
        writer = subprocess.Popen(
            ["bash", "-c", 'for i in $(seq 1 40); do "$VMAIL" --no-export -q alias add "a$i@example.com" '
                           'alice@example.com; done'], env=dict(self.inst.env, VMAIL=VMAIL))
        backup = os.path.join(self.inst.root, "backup.db")
        v("db", "backup", backup, check=0)
        writer.wait(timeout=300)
        con = sqlite3.connect(backup)
        self.assertEqual(con.execute("PRAGMA integrity_check").fetchone()[0], "ok")
        self.assertEqual(con.execute("SELECT count(*) FROM users").fetchone()[0], 1)
        con.close()
        restored = self.inst.vmail("--db", backup, "--json", "user", "list", check=0)
        self.assertEqual(json.loads(restored.stdout)[0]["address"], "alice@example.com")

    def load_fixture(self, version):
        """A database the vmail of schema `version` made (tests/fixtures)."""
        os.makedirs(os.path.dirname(self.inst.db), exist_ok=True)
        con = sqlite3.connect(self.inst.db)
        with open(os.path.join(SOURCE_DIR, "tests", "fixtures", f"schema-{version}.sql")) as f:
            con.executescript(f.read())
        con.close()

    def version_of(self, path):
        con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            return con.execute("PRAGMA user_version").fetchone()[0]
        finally:
            con.close()

    def test_db_backup_copies_without_migrating(self):
        # Regression: `db backup` migrated first, so "back up before
        # upgrading" backed up the upgraded file.
        # The first schema with an alias: SQLite 3.40 misreads it (FIELD-NOTES).
        self.load_fixture(1)
        backup = os.path.join(self.inst.root, "before-upgrade.db")
        p = self.inst.vmail("db", "backup", backup, check=0)
        self.assertIn("schema version 1", p.stdout)
        self.assertEqual(self.version_of(backup), 1)
        self.assertEqual(self.version_of(self.inst.db), 1)
        self.assertEqual(os.stat(backup).st_mode & 0o777, 0o600)

    def test_db_backup_never_replaces_a_file(self):
        v = self.inst.vmail
        v("domain", "add", "example.com", check=0)
        backup = os.path.join(self.inst.root, "backup.db")
        with open(backup, "w") as f:
            f.write("yesterday's backup\n")
        p = v("db", "backup", backup, check=73)
        self.assertEqual(p.stderr.strip().splitlines(),
                         [f"vmail: {backup}: exists; `vmail db backup --force` replaces it"])
        with open(backup) as f:
            self.assertEqual(f.read(), "yesterday's backup\n")
        self.assertEqual(os.listdir(self.inst.root).count("backup.db"), 1)
        self.assertEqual([n for n in os.listdir(self.inst.root) if ".tmp" in n], [])
        v("db", "backup", "--force", backup, check=0)
        self.assertEqual(self.version_of(backup), self.version_of(self.inst.db))

    def test_db_backup_of_a_missing_database_creates_nothing(self):
        backup = os.path.join(self.inst.root, "backup.db")
        p = self.inst.vmail("db", "backup", backup, check=66)
        self.assertEqual(p.stderr.strip().splitlines(),
                         [f"vmail: {self.inst.db}: no such database (`vmail db migrate` creates it)"])
        self.assertEqual(os.listdir(self.inst.root), [])

    def test_read_commands_never_create_a_database(self):
        # Regression: `vmail --db /wrong/path.db user list` printed an empty
        # table, exited 0 and created path.db.
        wrong = os.path.join(self.inst.root, "wrong", "path.db")
        reads = [("user", "list"), ("user", "show", "a@example.com"), ("alias", "list"), ("domain", "list"),
                 ("log",), ("getent", "passwd"), ("getent", "aliases"), ("db", "status"), ("export", "--check"),
                 ("user", "access", "a@example.com"), ("domain", "dkim", "example.com"),
                 ("domain", "dns", "example.com")]
        for args in reads:
            for where in (["--db", wrong], []):
                with self.subTest(args=args, flag=bool(where)):
                    env = {} if where else {"VMAIL_DB": wrong}
                    p = self.inst.vmail(*where, *args, env=env, check=66)
                    self.assertEqual(p.stdout, "")
                    self.assertEqual(p.stderr.strip().splitlines(),
                                     [f"vmail: {wrong}: no such database (`vmail db migrate` creates it)"])
                    self.assertEqual(os.listdir(self.inst.root), [])
        # A write command still creates it, folder and all (SPEC).
        self.inst.vmail("--db", wrong, "domain", "add", "example.com", check=0)
        self.assertTrue(os.path.isfile(wrong))

    def test_read_commands_read_an_older_schema_without_migrating(self):
        self.load_fixture(1)
        with open(self.inst.db, "rb") as f:
            before = f.read()
        users = json.loads(self.inst.vmail("--json", "user", "list", check=0).stdout)
        self.assertEqual(len(users), 4)
        aliases = json.loads(self.inst.vmail("--json", "alias", "list", check=0).stdout)
        self.assertIn("team@example.com", [a["source"] for a in aliases])
        self.inst.vmail("--json", "user", "show", "alice@example.com", check=0)
        self.inst.vmail("log", check=0)
        status = json.loads(self.inst.vmail("--json", "db", "status", check=0).stdout)
        self.assertEqual(status["version"], 1)
        with open(self.inst.db, "rb") as f:
            self.assertEqual(f.read(), before)
        self.assertEqual(self.version_of(self.inst.db), 1)

    def test_vmail_db_that_is_a_url_but_not_postgres_is_refused(self):
        # Regression: these became a local SQLite file named like the URL.
        cwd = os.path.join(self.inst.root, "cwd")
        os.makedirs(cwd)
        commands = [("user", "list"), ("db", "status"), ("domain", "add", "example.com"), ("db", "migrate"),
                    ("db", "backup", "b.db"), ("getent", "passwd"), ("export",)]
        for url in ("postgresql:/vmail@host/db", "mysql://vmail@host/db", "sqlite:///var/vmail.db",
                    "mysql://vmail:secret@host/db"):
            for args in commands:
                with self.subTest(url=url, args=args):
                    p = subprocess.run([VMAIL, *args], env=dict(self.inst.env, VMAIL_DB=url), cwd=cwd,
                                       capture_output=True, text=True, timeout=60)
                    self.assertEqual(p.returncode, 78, p.stderr)
                    self.assertEqual(len(p.stderr.strip().splitlines()), 1, p.stderr)
                    self.assertIn("is neither a file path nor a postgresql:// URL", p.stderr)
                    self.assertNotIn("secret", p.stderr)
                    self.assertEqual(os.listdir(cwd), [])
        self.assertEqual(sorted(os.listdir(self.inst.root)), ["cwd"])

    def test_db_check_reports_foreign_key_damage(self):
        v = self.inst.vmail
        v("domain", "add", "example.com", check=0)
        self.inst.add_user("alice@example.com")
        con = sqlite3.connect(self.inst.db)  # foreign keys off by default here
        con.execute("UPDATE users SET domain_id = 42")
        con.commit()
        con.close()
        p = v("db", "check", check=65)
        self.assertIn("foreign key", p.stdout)


if __name__ == "__main__":
    unittest.main()
