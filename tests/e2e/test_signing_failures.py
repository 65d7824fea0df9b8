"""Signing failures are never silent (issue 23, item 4; SPEC "Launcher": a
daemon that cannot do its job has its reason in the launcher's log, and
`vmail health` fails).

OpenDKIM refuses a private key whose folder chain others may write
(RequireSafeKeys), sticky /tmp included, and then answers every message from
a login with a tempfail while saying why only to syslog. Here, with the real
daemons:
- a root below /tmp (sticky, root's) signs: the launcher judged the chain
  itself and says so in one line;
- a root below a folder everyone may write (no sticky bit) is refused at
  start: exit 78, one line naming the folder and the fix, nothing started;
- a key OpenDKIM cannot read, or one that others may read, makes `vmail
  health` fail naming the file and the reason, and OpenDKIM's own words
  reach the launcher's log."""

import glob
import os
import shutil
import smtplib
import subprocess
import tempfile
import time
import unittest

from harness import BUILD_DIR
from server import DOMAIN, FOREIGN_SOURCE, Server, folder_chain_private, tls_context

ALICE = f"alice@{DOMAIN}"
PASSWORD = "signing-test-1"


def send_as_login(server, subject):
    """Submission, STARTTLS, AUTH as ALICE, From: ALICE, to ALICE."""
    raw = (f"From: {ALICE}\r\nTo: {ALICE}\r\nSubject: {subject}\r\n"
           f"Message-ID: <{subject}@{DOMAIN}>\r\n\r\nbody\r\n")
    with server.smtp("submission", FOREIGN_SOURCE) as s:
        s.starttls(context=tls_context())
        s.login(ALICE, PASSWORD)
        s.sendmail(ALICE, [ALICE], raw)


def dkim_signatures(message):
    head = message.split(b"\n\n", 1)[0].replace(b"\r\n", b"\n")
    return [line for line in head.split(b"\n") if line.lower().startswith(b"dkim-signature:")]


def key_file(server):
    keys = glob.glob(server.path("data/state/dkim", DOMAIN, "*.private"))
    assert len(keys) == 1, keys
    return keys[0]


def health_line(server, name):
    """The service's line of `vmail health` (text output)."""
    p = server.health()
    return p.returncode, next((line for line in p.stdout.splitlines() if line.split()[:1] == [name]), p.stdout)


class RootBelowStickyTmpTest(unittest.TestCase):
    def test_root_below_tmp_signs_mail_from_a_login(self):
        root = tempfile.mkdtemp(prefix="vmail-signing-tmp-", dir="/tmp")
        self.addCleanup(shutil.rmtree, root, ignore_errors=True)
        server = Server(root=root)
        # The harness turns RequireSafeKeys off below /tmp; this test is
        # about the launcher doing without that.
        server.env.pop("VMAIL_DKIM_REQUIRE_SAFE_KEYS", None)
        self.addCleanup(server.cleanup)
        server.start()
        server.add_user(ALICE, PASSWORD)
        send_as_login(server, "signed-below-tmp")
        server.wait_for_message(ALICE, "signed-below-tmp")
        message = next(m for m in server.messages(ALICE) if b"signed-below-tmp" in m)
        signatures = dkim_signatures(message)
        self.assertEqual(len(signatures), 1, message.decode(errors="replace"))
        self.assertIn(f"d={DOMAIN}".encode(), signatures[0])
        log = server.log()
        self.assertIn("/tmp is writable by everyone (mode 1777, sticky)", log)
        self.assertIn("turns OpenDKIM's RequireSafeKeys off", log)


class RootBelowWorldWritableFolderTest(unittest.TestCase):
    def test_refused_in_one_line_naming_the_folder(self):
        parent = tempfile.mkdtemp(prefix="vmail-signing-open-", dir=os.path.abspath(BUILD_DIR))
        self.addCleanup(shutil.rmtree, parent, ignore_errors=True)
        os.chmod(parent, 0o777)  # anyone may rename what is in it: no sticky bit
        root = os.path.join(parent, "root")
        os.mkdir(root)
        server = Server(root=root)
        server.env.pop("VMAIL_DKIM_REQUIRE_SAFE_KEYS", None)
        self.addCleanup(server.cleanup)
        p = server.launch()
        self.assertEqual(p.returncode, 78, p.stderr)
        errors = [line for line in p.stderr.splitlines() if ": error: " in line]
        self.assertEqual(len(errors), 1, p.stderr)
        self.assertIn(f"{parent} is writable by everyone (mode 0777)", errors[0])
        self.assertIn("VMAIL_DKIM_REQUIRE_SAFE_KEYS=no", errors[0])
        self.assertNotIn("started (pid", p.stderr)
        self.assertEqual(server.leftovers(), [])

        # The documented way out: a warning, and the daemons start.
        server.env["VMAIL_DKIM_REQUIRE_SAFE_KEYS"] = "no"
        p = server.launch("--configure-only")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("OpenDKIM signs with them anyway (VMAIL_DKIM_REQUIRE_SAFE_KEYS=no)", p.stderr)


class KeyOpenDkimCannotUseTest(unittest.TestCase):
    """One server whose root's folder chain is safe (in the build folder, or in
    /run when the checkout itself lies below a folder others can write, such as
    a clone in /tmp; the daemons must still pass through it, so not root's
    0700 home), so RequireSafeKeys is on; each test breaks the key file and
    restores it."""

    server = None

    @classmethod
    def setUpClass(cls):
        private = [d for d in (os.path.abspath(BUILD_DIR), "/run", "/var/lib") if folder_chain_private(d)]
        if not private:
            raise unittest.SkipTest("no folder with a private chain to put the root in")
        root = tempfile.mkdtemp(prefix="vmail-signing-", dir=private[0])
        cls.addClassCleanup(shutil.rmtree, root, ignore_errors=True)
        cls.server = Server(root=root)
        cls.addClassCleanup(cls.server.cleanup)
        cls.server.start()
        cls.server.add_user(ALICE, PASSWORD)

    def setUp(self):
        self.key = key_file(self.server)
        st = os.stat(self.key)
        self.addCleanup(os.chown, self.key, st.st_uid, st.st_gid)
        self.addCleanup(os.chmod, self.key, st.st_mode & 0o7777)

    def wait_log(self, needle, timeout=10):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if needle in self.server.log():
                return
            time.sleep(0.1)
        raise AssertionError(f"{needle!r} not in the launcher's log\n{self.server.log()[-3000:]}")

    def test_healthy_while_the_key_signs(self):
        rc, line = health_line(self.server, "opendkim")
        self.assertEqual(rc, 0, line)

    def test_unreadable_key_fails_health_with_the_reason_and_is_logged(self):
        os.chown(self.key, 0, 0)  # root's, 0600: opendkim cannot open it
        rc, line = health_line(self.server, "opendkim")
        self.assertEqual(rc, 1, line)
        self.assertIn(f"a test signature as {DOMAIN} failed", line)
        self.assertIn(f"opendkim cannot read {self.key} (owner uid 0, mode 0600)", line)
        # OpenDKIM's own words, through its stderr, in the launcher's log.
        self.wait_log(f"opendkim: error: can't load key from {self.key}: Permission denied")
        with self.assertRaises(smtplib.SMTPDataError) as refused:
            send_as_login(self.server, "unreadable-key")
        self.assertEqual(refused.exception.smtp_code, 451)

    def test_key_others_may_read_fails_health_with_the_reason_and_is_logged(self):
        os.chmod(self.key, 0o644)
        rc, line = health_line(self.server, "opendkim")
        self.assertEqual(rc, 1, line)
        self.assertIn(f"{self.key} can be read or written by other users (mode 0644)", line)
        self.wait_log(f"key data is not secure: {self.key} can be read or written by other users")

    def test_health_json_names_the_reason(self):
        os.chown(self.key, 0, 0)
        p = self.server.vmail("--json", "health", "--timeout", "2")
        self.assertEqual(p.returncode, 1, p.stdout)
        self.assertIn("opendkim cannot read", p.stdout)


if __name__ == "__main__":
    unittest.main()
