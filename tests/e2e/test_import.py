"""End-to-end tests of batch import (issue 5, SPEC "Batch import"): malformed
files change nothing and name their lines, a 10k-row import logs in through
the real Dovecot, and a killed import leaves the database as it was."""

import json
import os
import re
import signal
import subprocess
import time
import unittest

from harness import BUILD_DIR, VMAIL, InstanceTestCase, run_with_memory_limit
from server import DOMAIN, ServerTestCase, imap_login_ok, tls_context  # noqa: F401

HASH = "{SHA512-CRYPT}$6$importsalt$" + "x" * 86
GOOD = "good@example.test,correct horse\n"  # line 2 of most cases below
# vmail with the test seams compiled in (cli/CMakeLists.txt); never installed.
VMAIL_TESTHOOKS = os.path.join(BUILD_DIR, "vmail-testhooks")
PAUSE = "VMAIL_TEST_PAUSE_BEFORE_COMMIT"


def reported_lines(stderr, name):
    """Line numbers of the `FILE:LINE: reason` lines on stderr."""
    return [int(m.group(1)) for m in re.finditer(rf"^{re.escape(name)}:(\d+): ", stderr, re.M)]


class ImportTestCase(InstanceTestCase):
    def setUp(self):
        super().setUp()
        v = self.inst.vmail
        v("domain", "add", "example.test", check=0)
        self.inst.add_user("taken@example.test")
        v("alias", "add", "sales@example.test", "taken@example.test", check=0)

    def write(self, name, content):
        path = os.path.join(self.inst.root, name)
        with open(path, "wb") as f:
            f.write(content if isinstance(content, bytes) else content.encode())
        return path

    def import_unchanged(self, kind, name, content, *args):
        """Imports a bad file: exit 65, nothing in the database or the exported
        files changes. Returns the CompletedProcess."""
        path = self.write(name, content)
        db_before = self.inst.dump_db()
        files_before = self.inst.exported_files()
        p = self.inst.vmail(kind, "import", path, *args)
        self.assertEqual(p.returncode, 65, p.stderr)
        self.assertEqual(self.inst.dump_db(), db_before)
        self.assertEqual(self.inst.exported_files(), files_before)
        return p


class MalformedFiles(ImportTestCase):
    # (case, file content, the lines reported, a word of the reason)
    USER_CASES = [
        ("unterminated quote", "email,password\n" + GOOD + 'a@example.test,"correct horse\n', [3], "unterminated"),
        ("wrong field count", "email,password\n" + GOOD + "a@example.test,correct horse,x\n", [3], "3 fields"),
        ("unknown column", "email,password,colour\ngood@example.test,correct horse,red\n", [1], "unknown column"),
        ("both password and hash", "email,password,password_hash\ngood@example.test,correct horse,\n"
         f"a@example.test,correct horse,{HASH}\n", [3], "both"),
        ("neither password nor hash", "email,password,password_hash\ngood@example.test,correct horse,\n"
         "a@example.test,,\n", [3], "neither"),
        ("bad email", "email,password\n" + GOOD + "bob@@example.test,correct horse\n", [3], "two '@'"),
        ("duplicate row", "email,password\n" + GOOD + "Good@Example.test,correct horse\n", [3], "duplicate of line 2"),
        ("existing address", "email,password\n" + GOOD + "TAKEN@example.test,correct horse\n", [3], "already exists"),
        ("alias source", "email,password\n" + GOOD + "sales@example.test,correct horse\n", [3], "alias source"),
        ("unknown domain", "email,password\n" + GOOD + "a@nowhere.test,correct horse\n", [3], "no such domain"),
        ("bad quota", "email,password,quota\ngood@example.test,correct horse,1G\n"
         "a@example.test,correct horse,12X\n", [3], "quota"),
        ("zero quota", "email,password,quota\ngood@example.test,correct horse,1G\n"
         "a@example.test,correct horse,0\n", [3], "use none"),
        ("bad boolean", "email,password,enabled\ngood@example.test,correct horse,yes\n"
         "a@example.test,correct horse,maybe\n", [3], "not a boolean"),
        ("invalid UTF-8", b"email,password,name\ngood@example.test,correct horse,A\n"
         b"a@example.test,correct horse,\xff\xfe\n", [3], "invalid UTF-8"),
        ("short password", "email,password\n" + GOOD + "a@example.test,short\n", [3], "shorter than 8"),
        ("unknown hash scheme", "email,password_hash\ngood@example.test," + HASH + "\n"
         "a@example.test,{NOPE}abc\n", [3], "unknown scheme"),
        ("empty file", "", [1], "empty file"),
        ("header only", "email,password\r\n", [1], "no rows"),
        ("stray quote", "email,password\n" + GOOD + 'a@example.test,correct "horse"\n', [3], "quoting"),
        ("bad rows after a multi-line field", 'email,password,name\ngood@example.test,correct horse,"two\nlines"\n'
         "a@example.test,short,\n", [2, 4], "control character in name"),
    ]

    def test_user_import_table(self):
        for case, content, lines, word in self.USER_CASES:
            with self.subTest(case=case):
                p = self.import_unchanged("user", "users.csv", content)
                path = os.path.join(self.inst.root, "users.csv")
                self.assertEqual(reported_lines(p.stderr, path), lines, p.stderr)
                self.assertIn(word, p.stderr)
                self.assertIn("nothing imported", p.stderr)

    def test_every_bad_row_is_reported_in_order(self):
        content = ("email,password,quota\n" + "good@example.test,correct horse,\n" + "a@@example.test,correct horse,\n"
                   + "b@example.test,short,\n" + "c@example.test,correct horse,lots\n" + "ok@example.test,correct horse,\n" + "taken@example.test,correct horse,\n")
        p = self.import_unchanged("user", "many.csv", content)
        self.assertEqual(reported_lines(p.stderr, os.path.join(self.inst.root, "many.csv")), [3, 4, 5, 7])
        self.assertIn("4 bad rows, nothing imported", p.stderr)

    def test_more_than_a_hundred_bad_rows_are_counted(self):
        content = "email,password\n" + "".join(f"u{i}@@example.test,correct horse\n" for i in range(250))
        p = self.import_unchanged("user", "big.csv", content)
        path = os.path.join(self.inst.root, "big.csv")
        self.assertEqual(reported_lines(p.stderr, path), list(range(2, 102)))
        self.assertIn("and 150 more bad rows", p.stderr)
        self.assertIn("250 bad rows", p.stderr)

    def test_json_report_of_bad_rows(self):
        path = self.write("bad.csv", "email,password\n" + GOOD + "x@example.test,short\n")
        p = self.inst.vmail("--json", "user", "import", path, check=65)
        report = json.loads(p.stdout)
        self.assertEqual(report["created"], 0)
        self.assertEqual(report["error_count"], 1)
        self.assertEqual(report["errors"][0]["line"], 3)
        self.assertFalse(report["written"])

    def test_dms_and_alias_files(self):
        cases = [
            ("user", "postfix-accounts.cf", "good@example.test|" + HASH + "\nno-bar-here\n", [2], "--format", "dms"),
            ("user", "postfix-accounts.cf", "good@example.test|{SHA512-CRYPT}nope\n", [1], "--format", "dms"),
            ("alias", "postfix-virtual.cf", "# c\ninfo@example.test taken@example.test\nlonely@example.test\n", [3],
             "--format", "dms"),
            ("alias", "postfix-virtual.cf", "taken@example.test x@example.test\n", [1], "--format", "dms"),
            ("alias", "postfix-virtual.cf", "a@example.test x@example.test\nA@example.test y@example.test\n", [2],
             "--format", "dms"),
            ("alias", "aliases.csv", "source,destination\nsales@example.test,taken@example.test\n", [2]),
            ("alias", "aliases.csv", "source,destination\nx@example.test,\"a@example.test,\"\n", [2]),
            ("alias", "aliases.csv", "source,destinations\nx@example.test,a@example.test\n", [1]),
            ("alias", "aliases.csv", 'source,destination\nx@example.test,"a@example.test,\r\nb@example.test"\n'
             "y@example.test,y@example.test\n", [4]),
        ]
        for kind, name, content, lines, *args in cases:
            with self.subTest(kind=kind, content=content):
                p = self.import_unchanged(kind, name, content, *args)
                self.assertEqual(reported_lines(p.stderr, os.path.join(self.inst.root, name)), lines, p.stderr)

    def test_missing_file_and_usage(self):
        db_before = self.inst.dump_db()
        p = self.inst.vmail("user", "import", os.path.join(self.inst.root, "nope.csv"), check=66)
        self.assertIn("nope.csv", p.stderr)
        self.inst.vmail("user", "import", self.inst.root, check=66)
        self.inst.vmail("user", "import", "x.csv", "--format", "xml", check=64)
        self.inst.vmail("user", "import", "x.csv", "--on-existing", "merge", check=64)
        self.inst.vmail("user", "import", "x.csv", "--jobs", "0", check=64)
        self.assertEqual(self.inst.dump_db(), db_before)


SECRET = "Zq7SECRETzq"


class ImportSecrets(ImportTestCase):
    """Issue 22: no hash, good or bad, reaches stderr, the JSON report
    (dry run or not) or the audit log; an import over its limit is refused
    before it is read whole."""

    BAD_ROWS = [
        "short@example.test,{SHA512-CRYPT}$6$salt$" + SECRET,
        "scheme@example.test,{" + SECRET + "}abcdefgh",
        "plain@example.test,{PLAIN}" + SECRET,
        "noscheme@example.test," + SECRET + "{SHA512-CRYPT}",
        "colon@example.test,\"{SHA512-CRYPT}$6$salt$" + SECRET + ":x\"",
        "space@example.test,\"{SHA512-CRYPT}$6$salt$" + SECRET + " x\"",
        "{SHA512-CRYPT}$6$" + SECRET + "$" + "a" * 86 + ",swapped@example.test",  # columns swapped
    ]

    def assert_no_hash(self, text):
        self.assertNotIn(SECRET, text)
        self.assertNotIn(HASH, text)
        self.assertNotIn("$6$", text)

    def test_bad_hashes_are_reported_without_their_value(self):
        content = "email,password_hash\ngood@example.test," + HASH + "\n" + "\n".join(self.BAD_ROWS) + "\n"
        path = self.write("users.csv", content)
        for args in ((), ("--dry-run",), ("--json",), ("--json", "--dry-run")):
            with self.subTest(args=args):
                p = self.import_unchanged("user", "users.csv", content, *args)
                self.assertEqual(reported_lines(p.stderr, path), list(range(3, 3 + len(self.BAD_ROWS))), p.stderr)
                self.assertIn("password_hash: ", p.stderr)
                self.assert_no_hash(p.stdout + p.stderr)
                if "--json" in args:
                    self.assertEqual(json.loads(p.stdout)["error_count"], len(self.BAD_ROWS))
        dms = "".join(row.replace(",", "|", 1).replace('"', "") + "\n" for row in self.BAD_ROWS[:4])
        p = self.import_unchanged("user", "postfix-accounts.cf", dms, "--format", "dms", "--json")
        self.assertGreater(json.loads(p.stdout)["error_count"], 0)
        self.assert_no_hash(p.stdout + p.stderr)

    def test_good_hashes_stay_out_of_reports_and_the_audit_log(self):
        content = "email,password_hash\none@example.test," + HASH + "\ntwo@example.test," + HASH + "\n"
        path = self.write("users.csv", content)
        for args in (("--dry-run",), ()):
            p = self.inst.vmail("--json", "user", "import", path, *args, check=0)
            self.assert_no_hash(p.stdout + p.stderr)
        for argv in (("--json", "user", "show", "one@example.test"), ("--json", "log"), ("log",)):
            self.assert_no_hash(self.inst.vmail(*argv, check=0).stdout)

    def test_an_import_over_256_mib_is_refused_before_it_is_read(self):
        db_before, files_before = self.inst.dump_db(), self.inst.exported_files()
        sparse = os.path.join(self.inst.root, "huge.csv")
        with open(sparse, "wb") as f:
            f.truncate(8 << 30)  # more than the program may hold in memory
        with open("/dev/zero") as zero:
            for args, stdin, name in ((["user", "import", sparse], None, sparse),
                                      (["alias", "import", sparse], None, sparse),
                                      (["user", "import", "-"], zero, "<stdin>")):
                with self.subTest(args=args):
                    p = run_with_memory_limit([VMAIL, *args], self.inst.env, stdin=stdin, capture_output=True,
                                              text=True, timeout=120)
                    self.assertEqual(p.returncode, 65, p.stderr)
                    self.assertEqual(p.stderr.strip().splitlines(),
                                     [f"vmail: {name}: larger than the limit of 256 MiB"])
        self.assertEqual(self.inst.dump_db(), db_before)
        self.assertEqual(self.inst.exported_files(), files_before)


class GoodFiles(ImportTestCase):
    def test_csv_with_bom_crlf_quotes_and_dry_run(self):
        content = ("\ufeffEmail,Password,Quota,Name,Enabled\r\n"
                   'alice@example.test,"pass, ""word"" 1",1G,"Smith, Alice",yes\r\n'
                   "BOB@example.test,password-two,,,0\r\n"
                   "\r\n"
                   'carol@example.test,password-three,,"Carol",\r\n')
        path = self.write("users.csv", content)
        before = self.inst.dump_db()
        p = self.inst.vmail("user", "import", path, "--dry-run", check=0)
        self.assertIn("3 created", p.stdout)
        self.assertEqual(self.inst.dump_db(), before)

        report = json.loads(self.inst.vmail("--json", "user", "import", path, check=0).stdout)
        self.assertEqual((report["created"], report["updated"], report["skipped"], report["errors"]), (3, 0, 0, []))
        users = {u["address"]: u for u in json.loads(self.inst.vmail("--json", "user", "list", check=0).stdout)}
        self.assertEqual(users["alice@example.test"]["name"], "Smith, Alice")
        self.assertEqual(users["alice@example.test"]["quota"], 1 << 30)
        self.assertIs(users["bob@example.test"]["enabled"], False)
        # No maildir yet (Dovecot makes it at the first delivery or login), only the domain folder.
        self.assertTrue(os.path.isdir(os.path.join(self.inst.mail_dir, "example.test")))
        self.assertFalse(os.path.exists(os.path.join(self.inst.mail_dir, "example.test/carol")))
        with open(os.path.join(self.inst.dovecot_dir, "users")) as f:
            exported = f.read()
        hash_of = {line.split(":")[0]: line.split(":")[1] for line in exported.splitlines()}
        for address, password in (("alice@example.test", 'pass, "word" 1'), ("carol@example.test", "password-three")):
            subprocess.run(["doveadm", "pw", "-t", hash_of[address], "-p", password], check=True,
                           capture_output=True)
        self.assertEqual(self.inst.postmap_q("bob@example.test", "vmailbox"), "example.test/bob/Maildir/")

        # Again: every row exists; skip leaves them, update changes them.
        self.inst.vmail("user", "import", path, check=65)
        report = json.loads(self.inst.vmail("--json", "user", "import", path, "--on-existing", "skip", check=0).stdout)
        self.assertEqual(report["skipped"], 3)
        self.inst.vmail("user", "disable", "alice@example.test", check=0)
        report = json.loads(self.inst.vmail("--json", "user", "import", path, "--on-existing", "update").stdout)
        self.assertEqual(report["updated"], 3)
        self.assertIs(json.loads(self.inst.vmail("--json", "user", "show", "alice@example.test").stdout)["enabled"],
                      True)

    def test_dms_accounts_and_virtual_from_stdin(self):
        accounts = (f"one@example.test|{HASH}\r\n"
                    f"two@example.test|{HASH}|userdb_mail=maildir:/x\r\n")
        p = self.inst.vmail("user", "import", "-", "--format", "dms", input=accounts, check=0)
        self.assertIn("<stdin>:2: fields after the hash are ignored", p.stderr)
        self.assertEqual(p.stderr.count("ignored"), 1)
        virtual = ("# docker-mailserver aliases\n"
                   "info@example.test one@example.test,two@example.test\n"
                   "\n"
                   "@example.test one@example.test\n"
                   "sales@example.test one@example.test\n")
        report = json.loads(self.inst.vmail("--json", "alias", "import", "-", "--format", "dms", input=virtual,
                                            check=0).stdout)
        self.assertEqual((report["created"], report["updated"]), (2, 1))
        self.assertEqual(self.inst.postmap_q("info@example.test", "virtual"), "one@example.test,two@example.test")
        self.assertEqual(self.inst.postmap_q("sales@example.test", "virtual"), "taken@example.test,one@example.test")

    def test_no_export_leaves_files(self):
        files_before = self.inst.exported_files()
        path = self.write("u.csv", "email,password_hash\nnew@example.test," + HASH + "\n")
        self.inst.vmail("--no-export", "user", "import", path, check=0)
        self.assertEqual(self.inst.exported_files(), files_before)
        self.inst.vmail("export", "--check", check=1)


class KilledImport(ImportTestCase):
    """kill -9 (and SIGINT) at any point leaves the database as it was: the
    import is one transaction that commits only at the end."""

    def start_import(self, path, env=None, program=VMAIL):
        e = dict(self.inst.env)
        e.update(env or {})
        return subprocess.Popen([program, "user", "import", path, "--jobs", "2"], env=e, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)

    def plaintext_file(self, rows):
        return self.write("plain.csv", "email,password\n" + "".join(
            f"user{i}@example.test,password-{i:06d}\n" for i in range(rows)))

    def assert_unchanged(self, proc, db_before, files_before):
        proc.wait(timeout=60)
        proc.stdout.close()
        proc.stderr.close()
        self.assertEqual(self.inst.dump_db(), db_before)
        self.assertEqual(self.inst.exported_files(), files_before)
        self.inst.vmail("db", "check", check=0)
        # The write lock is gone: the next command goes through.
        self.inst.add_user("after@example.test")

    def test_kill_while_hashing(self):
        path = self.plaintext_file(20000)
        db_before, files_before = self.inst.dump_db(), self.inst.exported_files()
        proc = self.start_import(path)
        # Hashing threads exist only while hashing: wait until they run.
        task_dir = f"/proc/{proc.pid}/task"
        while proc.poll() is None and len(os.listdir(task_dir)) < 3:
            time.sleep(0.01)
        self.assertIsNone(proc.poll(), "the import finished before it could be killed")
        time.sleep(0.3)
        proc.send_signal(signal.SIGKILL)
        self.assert_unchanged(proc, db_before, files_before)

    def test_kill_and_interrupt_while_writing(self):
        for sig in (signal.SIGKILL, signal.SIGINT):
            with self.subTest(signal=sig):
                path = self.write("hashed.csv", "email,password_hash\n" + "".join(
                    f"w{i}@example.test,{HASH}\n" for i in range(5000)))
                db_before, files_before = self.inst.dump_db(), self.inst.exported_files()
                # No SQLite lock held from outside can stop a WAL commit once the
                # rows are written, so the test-only build pauses right there.
                proc = self.start_import(path, {PAUSE: "60"}, program=VMAIL_TESTHOOKS)
                line = proc.stderr.readline()
                self.assertIn("paused before commit", line)
                # Every row is written inside the open transaction by now.
                proc.send_signal(sig)
                self.assertNotEqual(proc.wait(timeout=60), 0)
                self.assert_unchanged(proc, db_before, files_before)
                self.inst.vmail("user", "del", "after@example.test", check=0)

    def test_shipped_program_has_no_pause_hook(self):
        # Regression: the shipped vmail read VMAIL_TEST_PAUSE_BEFORE_COMMIT.
        with open(VMAIL, "rb") as f:
            self.assertFalse(PAUSE.encode() in f.read(), f"{VMAIL} mentions {PAUSE}")
        path = self.write("one.csv", "email,password_hash\nhook@example.test," + HASH + "\n")
        started = time.monotonic()
        p = self.inst.vmail("user", "import", path, env={PAUSE: "60"}, check=0)
        self.assertLess(time.monotonic() - started, 30)
        self.assertNotIn("paused", p.stderr)


class TenThousandLogins(ServerTestCase):
    """10k users imported into a running server; a sample logs in over IMAPS."""

    ROWS = 10000
    PLAIN = 1000  # rows with a plaintext password, hashed by the import

    @classmethod
    def prepare(cls, server):
        cls.hash_password = "imported-hash-password"
        pw = subprocess.run(["doveadm", "pw", "-s", "SHA512-CRYPT", "-p", cls.hash_password], check=True,
                            capture_output=True, text=True).stdout.strip()
        lines = ["email,password,password_hash"]
        for i in range(cls.ROWS):
            if i < cls.PLAIN:
                lines.append(f"p{i:05d}@{DOMAIN},plain-password-{i:05d},")
            else:
                lines.append(f"h{i:05d}@{DOMAIN},,{pw}")
        path = server.path("ten-thousand.csv")
        with open(path, "w") as f:
            f.write("\n".join(lines) + "\n")
        p = server.vmail("--json", "user", "import", path, check=0)
        cls.report = json.loads(p.stdout)

    def test_sample_logs_in(self):
        self.assertEqual(self.report["created"], self.ROWS)
        sample = [0, 1, 499, 998, 999]
        for i in sample:
            with self.subTest(user=i):
                self.assertTrue(imap_login_ok(self.server, f"p{i:05d}@{DOMAIN}", f"plain-password-{i:05d}"))
        for i in (1000, 4321, 9999):
            with self.subTest(user=i):
                self.assertTrue(imap_login_ok(self.server, f"h{i:05d}@{DOMAIN}", self.hash_password))
        self.assertFalse(imap_login_ok(self.server, f"p00001@{DOMAIN}", "plain-password-00002"))
        # The import made no maildir: a login works without one, and Dovecot
        # makes it (owned by the vmail user) when the INBOX is first opened.
        address = f"h09999@{DOMAIN}"
        self.assertFalse(os.path.exists(self.server.maildir(address)))
        imap = self.server.imaps()
        try:
            imap.login(address, self.hash_password)
            self.assertEqual(imap.select("INBOX")[0], "OK")
        finally:
            imap.logout()
        st = os.stat(os.path.join(self.server.maildir(address), "cur"))
        self.assertEqual((st.st_uid, st.st_gid), (5000, 5000))

    def test_imported_user_without_maildir_receives_and_reads(self):
        s = self.server
        address = f"h05555@{DOMAIN}"
        home = os.path.dirname(s.maildir(address))
        self.assertFalse(os.path.exists(home), "import makes no maildir")
        subject = "first-mail-" + str(time.monotonic_ns())
        self.assertEqual(s.send("sender@example.net", [address], subject, body="delivered over LMTP\n"), {})
        s.wait_for_message(address, subject)
        for path in (home, s.maildir(address), os.path.join(s.maildir(address), "new")):
            st = os.stat(path)
            self.assertEqual((st.st_uid, st.st_gid), (5000, 5000), path)
            self.assertEqual(st.st_mode & 0o077, 0, path)
        imap = s.imaps()
        try:
            imap.login(address, self.hash_password)
            imap.select("INBOX", readonly=True)
            typ, data = imap.search(None, "SUBJECT", subject)
            self.assertEqual((typ, len(data[0].split())), ("OK", 1), data)
        finally:
            imap.logout()


# The leftover-maildir table of src/core/maildir_test.cc (LeftoverTable):
# (case, what is made below <domain>/<local>, the exit status of a new user
# there: 0, 65 for mail it would inherit, 73 for what is never followed). "d:"
# a folder, "f:" a file, "l:" a symlink to an empty folder elsewhere, "m:" a
# symlink to a folder holding a message.
LEFTOVERS = [
    ("no folder", [], 0),
    ("an empty home", ["d:"], 0),
    ("a home without Maildir", ["f:.dovecot.lda-dupes"], 0),
    ("empty cur/new/tmp", ["d:Maildir/cur", "d:Maildir/new", "d:Maildir/tmp"], 0),
    ("a message in new", ["f:Maildir/new/1.msg"], 65),
    ("a message in cur", ["f:Maildir/cur/1:2,S"], 65),
    ("only tmp", ["f:Maildir/tmp/1.part", "d:Maildir/cur", "d:Maildir/new"], 0),
    ("dovecot index files only",
     ["d:Maildir/cur", "d:Maildir/new", "f:Maildir/dovecot.index", "f:Maildir/dovecot.index.log",
      "f:Maildir/dovecot.index.cache", "f:Maildir/dovecot-uidlist", "f:Maildir/dovecot-uidvalidity",
      "f:Maildir/subscriptions"], 0),
    ("empty subfolders", ["d:Maildir/.Sent/cur", "d:Maildir/.Sent/new", "f:Maildir/.Sent/maildirfolder",
                          "d:Maildir/.Trash/tmp", "f:Maildir/.Trash/dovecot-uidlist"], 0),
    (".Sent with mail in cur", ["d:Maildir/cur", "d:Maildir/new", "f:Maildir/.Sent/cur/1:2,S"], 65),
    (".Sent with mail in new", ["f:Maildir/.Sent/new/1.msg"], 65),
    (".Sent with only tmp", ["f:Maildir/.Sent/tmp/1.part"], 0),
    ("a symlinked home", ["l:"], 73),
    ("a symlinked Maildir", ["l:Maildir"], 73),
    ("a symlinked Maildir to mail", ["m:Maildir"], 73),
    ("a symlinked cur", ["l:Maildir/cur"], 73),
    ("a symlinked .Sent", ["l:Maildir/.Sent"], 73),
    ("a symlink in new", ["l:Maildir/new/1.msg"], 65),
    ("a file for Maildir", ["f:Maildir"], 73),
    ("a file for cur", ["f:Maildir/cur"], 73),
]


class LeftoverMaildirs(InstanceTestCase):
    """`user add` and `user import` judge a deleted user's maildir by one rule
    (core/maildir leftover_holds_mail): on every leftover of the table both
    accept (0), refuse the mail (65) or refuse what they never follow (73);
    --reuse-maildir / --reuse-maildirs let both take the mail, never the
    symlinks."""

    def make(self, local, steps):
        elsewhere = os.path.join(self.inst.root, "elsewhere")
        os.makedirs(os.path.join(elsewhere, "empty"), exist_ok=True)
        os.makedirs(os.path.join(elsewhere, "full", "new"), exist_ok=True)
        with open(os.path.join(elsewhere, "full", "new", "1.msg"), "w") as f:
            f.write("Subject: someone else's\n\nx\n")
        home = os.path.join(self.inst.mail_dir, "example.test", local)
        os.makedirs(os.path.dirname(home), exist_ok=True)
        for step in steps:
            kind, rel = step[0], step[2:]
            path = os.path.join(home, rel) if rel else home
            if kind == "d":
                os.makedirs(path, exist_ok=True)
                continue
            os.makedirs(os.path.dirname(path), exist_ok=True)
            if kind == "f":
                with open(path, "w") as f:
                    f.write("x")
            else:
                os.symlink(os.path.join(elsewhere, "empty" if kind == "l" else "full"), path)

    def add(self, local, *flags):
        return self.inst.vmail("user", "add", f"{local}@example.test", "--hash", HASH, *flags)

    def imported(self, local, *flags):
        path = os.path.join(self.inst.root, f"{local}.csv")
        with open(path, "w") as f:
            f.write(f"email,password_hash\n{local}@example.test,{HASH}\n")
        return self.inst.vmail("user", "import", path, *flags)

    def test_user_add_and_import_agree(self):
        self.inst.vmail("domain", "add", "example.test", check=0)
        for i, (name, steps, expected) in enumerate(LEFTOVERS):
            with self.subTest(name):
                self.make(f"a{i}", steps)
                self.make(f"i{i}", steps)
                add = self.add(f"a{i}")
                imp = self.imported(f"i{i}")
                self.assertEqual((add.returncode, imp.returncode), (expected, expected),
                                 f"user add: {add.stderr}\nuser import: {imp.stderr}")
                if expected == 65:
                    self.assertIn("--reuse-maildir", add.stderr)
                    self.assertIn(f"i{i}.csv:2: ", imp.stderr)
                    self.assertIn("--reuse-maildirs", imp.stderr)

    def test_reuse_takes_the_mail_over_in_both(self):
        self.inst.vmail("domain", "add", "example.test", check=0)
        cases = [c for c in LEFTOVERS if c[2] != 0]
        for i, (name, steps, expected) in enumerate(cases):
            with self.subTest(name):
                self.make(f"ra{i}", steps)
                self.make(f"ri{i}", steps)
                add = self.add(f"ra{i}", "--reuse-maildir")
                imp = self.imported(f"ri{i}", "--reuse-maildirs")
                want = 0 if expected == 65 else 73
                self.assertEqual((add.returncode, imp.returncode), (want, want),
                                 f"user add: {add.stderr}\nuser import: {imp.stderr}")
        users = {u["address"] for u in json.loads(self.inst.vmail("--json", "user", "list", check=0).stdout)}
        self.assertEqual(len(users), 2 * len([c for c in cases if c[2] == 65]))


if __name__ == "__main__":
    unittest.main()
