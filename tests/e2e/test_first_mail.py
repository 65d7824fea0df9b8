"""The first mail to, and the first login of, a user changed a moment ago
(issue 23, item 1). Dovecot stats its passwd-file at most once a second: a
lookup in the same second as an earlier one uses the table it already had.
While each test runs, a thread makes Dovecot look at the users file every
50 ms (as logins and deliveries do on a busy server), so nearly every change
lands in a second Dovecot has already looked in; each change is then used at
once:

- mail to users added a moment ago is delivered (before: LMTP "User doesn't
  exist", deferred, then Postfix's 300 s back-off);
- a login right after `user add` / `user passwd` succeeds on its first try
  (before: refused, after Dovecot's 2 s failure delay), also after two
  same-size password changes in one second.

Nothing is timed: the generous bound on delivery only keeps a failure from
hanging the run (the old behaviour needs 300 s)."""

import subprocess
import threading
import time
import unittest
import uuid

from server import DOMAIN, ServerTestCase, imap_login_ok
from test_launcher_logins import pop3_login_ok, smtp_auth_ok

DELIVERY_BOUND = 30  # seconds; a message left to Postfix's back-off needs 300


class FirstMailTest(ServerTestCase):
    @classmethod
    def prepare(cls, server):
        server.add_user(f"busy@{DOMAIN}", "busy-password-1")

    def setUp(self):
        self.stop = threading.Event()
        self.busy = threading.Thread(target=self.keep_looking_up)
        self.busy.start()

    def tearDown(self):
        self.stop.set()
        self.busy.join()

    def keep_looking_up(self):
        while not self.stop.wait(0.05):
            self.look_up()

    def look_up(self):
        """A userdb lookup of an existing user: Dovecot's auth stats the users
        file now, so a change in the rest of this second is not seen by the
        table it holds."""
        subprocess.run(["doveadm", "-c", self.server.dovecot_conf, "user", f"busy@{DOMAIN}"],
                       capture_output=True, timeout=30, check=True)

    def add(self, address, password):
        self.server.vmail("user", "add", address, "--password-stdin", input=password + "\n", check=0)

    def test_mail_to_users_added_a_moment_ago_is_delivered(self):
        s = self.server
        sent = {}
        for i in range(6):
            address, subject = f"new{i}@{DOMAIN}", "first-" + uuid.uuid4().hex[:12]
            self.look_up()
            self.add(address, f"new{i}-password")
            self.assertEqual(s.send("sender@example.net", [address], subject), {})
            sent[address] = subject
        deadline = time.monotonic() + DELIVERY_BOUND
        missing = dict(sent)
        while missing and time.monotonic() < deadline:
            for address, subject in list(missing.items()):
                if any(subject.encode() in m for m in s.messages(address)):
                    del missing[address]
            time.sleep(0.1)
        self.assertEqual(missing, {}, "not delivered within %d s:\n%s" % (DELIVERY_BOUND, s.log()[-3000:]))
        # Nothing bounced or stayed deferred.
        queue = subprocess.run(["postqueue", "-c", s.postfix_dir, "-p"], capture_output=True, text=True)
        self.assertIn("Mail queue is empty", queue.stdout)

    def test_login_right_after_user_add_succeeds(self):
        s = self.server
        for i in range(4):
            address, password = f"login{i}@{DOMAIN}", f"login{i}-password"
            self.look_up()
            self.add(address, password)
            self.assertTrue(imap_login_ok(s, address, password), f"IMAPS login of {address} refused")
        for check in (pop3_login_ok, smtp_auth_ok):
            address, password = f"login-{check.__name__}@{DOMAIN}", "another-password"
            self.look_up()
            self.add(address, password)
            self.assertTrue(check(s, address, password), f"{check.__name__} of {address} refused")

    def test_login_right_after_user_passwd_succeeds(self):
        s = self.server
        pat = f"pat@{DOMAIN}"
        self.add(pat, "pat-password-0")
        self.assertTrue(imap_login_ok(s, pat, "pat-password-0"))
        for i in range(1, 4):
            self.look_up()
            s.vmail("user", "passwd", pat, "--password-stdin", input=f"pat-password-{i}\n", check=0)
            self.assertTrue(imap_login_ok(s, pat, f"pat-password-{i}"), f"new password {i} refused")
        # Two changes inside one second, hashes of the same length: the file's
        # size stays the same, only its mtime can tell Dovecot.
        self.look_up()
        for i in (4, 5):
            s.vmail("user", "passwd", pat, "--password-stdin", input=f"pat-password-{i}\n", check=0)
        self.assertTrue(imap_login_ok(s, pat, "pat-password-5"))
        self.assertTrue(smtp_auth_ok(s, pat, "pat-password-5"))

    def test_wrong_password_and_unknown_user_are_still_refused(self):
        s = self.server
        self.add(f"wrong@{DOMAIN}", "right-password")
        self.assertTrue(imap_login_ok(s, f"wrong@{DOMAIN}", "right-password"))
        self.assertFalse(imap_login_ok(s, f"wrong@{DOMAIN}", "wrong-password"))
        self.assertFalse(imap_login_ok(s, f"nobody@{DOMAIN}", "right-password"))
        self.assertFalse(pop3_login_ok(s, f"wrong@{DOMAIN}", "wrong-password"))
        self.assertFalse(smtp_auth_ok(s, f"wrong@{DOMAIN}", "wrong-password"))

if __name__ == "__main__":
    unittest.main()
