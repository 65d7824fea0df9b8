"""Logins against the running server follow the database at once: wrong
passwords, disabled users, password changes and deleted users; no plaintext
authentication without TLS (issue 4, "Must show" 5)."""

import imaplib
import os
import poplib
import smtplib
import subprocess
import time
import unittest

from server import DOMAIN, FOREIGN_SOURCE, ServerTestCase, imap_login_ok, tls_context


def eventually(check, timeout=6):
    """Dovecot stats the passwd-file at most once a second: a change shows
    within about a second, without any restart. Retries `check` until true."""
    deadline = time.monotonic() + timeout
    while True:
        if check():
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.3)


def pop3_login_ok(server, address, password):
    c = server.pop3s()
    try:
        c.user(address)
        c.pass_(password)
        return True
    except poplib.error_proto:
        return False
    finally:
        try:
            c.quit()
        except Exception:
            pass


def smtp_auth_ok(server, address, password, source=FOREIGN_SOURCE):
    """True when `address` authenticates on submission from `source`."""
    with server.smtp("submission", source=source) as c:
        c.starttls(context=tls_context())
        c.ehlo("client.example.net")
        try:
            c.login(address, password)
            return True
        except smtplib.SMTPAuthenticationError:
            return False


class LoginTest(ServerTestCase):
    @classmethod
    def prepare(cls, server):
        for name in ("alice", "dora", "pat", "gone"):
            server.add_user(f"{name}@{DOMAIN}", f"{name}-password-1")

    def test_wrong_password_is_refused_everywhere(self):
        s = self.server
        alice = f"alice@{DOMAIN}"
        self.assertTrue(imap_login_ok(s, alice, "alice-password-1"))
        self.assertFalse(imap_login_ok(s, alice, "wrong-password"))
        self.assertTrue(pop3_login_ok(s, alice, "alice-password-1"))
        self.assertFalse(pop3_login_ok(s, alice, "wrong-password"))
        self.assertTrue(smtp_auth_ok(s, alice, "alice-password-1"))
        self.assertFalse(smtp_auth_ok(s, alice, "wrong-password"))
        self.assertFalse(imap_login_ok(s, f"nobody@{DOMAIN}", "alice-password-1"))

    def test_disabled_user_cannot_log_in_but_still_receives(self):
        s = self.server
        dora = f"dora@{DOMAIN}"
        self.assertTrue(imap_login_ok(s, dora, "dora-password-1"))
        s.vmail("user", "disable", dora, check=0)
        self.assertTrue(eventually(lambda: not imap_login_ok(s, dora, "dora-password-1")))
        self.assertFalse(pop3_login_ok(s, dora, "dora-password-1"))
        self.assertFalse(smtp_auth_ok(s, dora, "dora-password-1"))
        s.send("x@example.net", [dora], "while disabled")
        s.wait_for_message(dora, "while disabled")
        s.vmail("user", "enable", dora, check=0)
        self.assertTrue(eventually(lambda: imap_login_ok(s, dora, "dora-password-1")))

    def test_password_change_applies_at_once(self):
        s = self.server
        pat = f"pat@{DOMAIN}"
        self.assertTrue(imap_login_ok(s, pat, "pat-password-1"))
        # Two changes inside one second must both be seen (Dovecot's mtime check).
        s.vmail("user", "passwd", pat, "--password-stdin", input="pat-password-2\n", check=0)
        s.vmail("user", "passwd", pat, "--password-stdin", input="pat-password-3\n", check=0)
        self.assertTrue(eventually(lambda: imap_login_ok(s, pat, "pat-password-3")))
        self.assertFalse(imap_login_ok(s, pat, "pat-password-1"))
        self.assertFalse(imap_login_ok(s, pat, "pat-password-2"))
        self.assertTrue(pop3_login_ok(s, pat, "pat-password-3"))
        self.assertTrue(smtp_auth_ok(s, pat, "pat-password-3"))

    def test_deleted_users_mail_is_refused(self):
        s = self.server
        gone = f"gone@{DOMAIN}"
        s.send("x@example.net", [gone], "before delete")
        s.wait_for_message(gone, "before delete")
        s.vmail("user", "del", gone, check=0)
        # Postfix notices the rewritten map before its next client.
        deadline = time.monotonic() + 10
        while True:
            with s.smtp() as c:
                c.ehlo("client.example.net")
                c.mail("x@example.net")
                code, msg = c.rcpt(gone)
            if 500 <= code < 600 or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        self.assertTrue(500 <= code < 600, (code, msg))
        self.assertTrue(eventually(lambda: not imap_login_ok(s, gone, "gone-password-1")))

    def test_dovecot_not_yet_seeing_a_user_defers_instead_of_bouncing(self):
        # Postfix's LMTP client reads Dovecot's answer through the rendered
        # filter: "5.1.1 User doesn't exist" for a recipient that Postfix found
        # in vmailbox becomes a 4.1.1 deferral, other answers pass unchanged.
        s = self.server
        filter_map = "regexp:" + os.path.join(s.postfix_dir, "lmtp_status_filter")
        configured = subprocess.run(["postconf", "-c", s.postfix_dir, "-h", "lmtp_delivery_status_filter"],
                                    capture_output=True, text=True, check=True).stdout.strip()
        self.assertEqual(configured, filter_map)
        stale = "5.1.1 <new@example.test> User doesn't exist: new@example.test"
        out = subprocess.run(["postmap", "-c", s.postfix_dir, "-q", stale, filter_map], capture_output=True, text=True)
        self.assertEqual(out.stdout.strip(), "4.1.1 <new@example.test> User doesn't exist: new@example.test")
        for other in ("5.2.2 <a@example.test> Quota exceeded (mailbox for user is full)",
                      "2.0.0 <a@example.test> Saved"):
            out = subprocess.run(["postmap", "-c", s.postfix_dir, "-q", other, filter_map], capture_output=True, text=True)
            self.assertEqual(out.returncode, 1, out.stdout)

    def test_no_plaintext_auth_without_tls(self):
        s = self.server
        alice = f"alice@{DOMAIN}"
        # From 127.0.0.2: Dovecot would treat 127.0.0.1 -> 127.0.0.1 as secured.
        imap = s.imap(source=FOREIGN_SOURCE)
        try:
            self.assertIn("LOGINDISABLED", imap.capabilities)
            with self.assertRaises(imaplib.IMAP4.error):
                imap.login(alice, "alice-password-1")
        finally:
            imap.shutdown()
        pop = s.pop3(source=FOREIGN_SOURCE)
        try:
            with self.assertRaises(poplib.error_proto):
                pop.user(alice)
                pop.pass_("alice-password-1")
        finally:
            pop.close()
        # After STARTTLS the same login works.
        imap = s.imap(source=FOREIGN_SOURCE)
        try:
            imap.starttls(ssl_context=tls_context())
            imap.login(alice, "alice-password-1")
        finally:
            imap.logout()
        pop = s.pop3(source=FOREIGN_SOURCE)
        try:
            pop.stls(context=tls_context())
            pop.user(alice)
            pop.pass_("alice-password-1")
            pop.quit()
        finally:
            pop.close()

    def test_tls_below_1_2_is_refused(self):
        import ssl
        ctx = tls_context()
        ctx.minimum_version = ssl.TLSVersion.TLSv1
        ctx.maximum_version = ssl.TLSVersion.TLSv1_1
        ctx.set_ciphers("ALL:@SECLEVEL=0")
        with self.assertRaises((ssl.SSLError, OSError)):
            imaplib.IMAP4_SSL("127.0.0.1", self.server.ports["imaps"], ssl_context=ctx, timeout=10)


if __name__ == "__main__":
    unittest.main()
