"""Submission (587, STARTTLS) and SMTPS (465) with SASL through Dovecot: no
AUTH before TLS, relaying after AUTH, and senders must own the address they
send as (issue 4, "Must show" 4)."""

import os
import smtplib
import unittest

from server import DOMAIN, FOREIGN_SOURCE, ServerTestCase, tls_context

ALICE = f"alice@{DOMAIN}"
BOB = f"bob@{DOMAIN}"
PASSWORD = "alice-password-1"


class SubmissionTest(ServerTestCase):
    @classmethod
    def prepare(cls, server):
        server.add_user(ALICE, PASSWORD)
        server.add_user(BOB, "bob-password-1")
        server.vmail("alias", "add", f"sales@{DOMAIN}", ALICE, check=0)

    def submission(self):
        c = self.server.smtp("submission", source=FOREIGN_SOURCE)
        c.ehlo("client.example.net")
        return c

    def test_auth_not_offered_before_starttls(self):
        with self.submission() as c:
            self.assertTrue(c.has_extn("starttls"))
            self.assertFalse(c.has_extn("auth"), c.esmtp_features)
            # Mail without TLS is refused outright (smtpd_tls_security_level=encrypt).
            code, msg = c.mail(ALICE)
            self.assertEqual(code, 530, msg)

    def test_auth_after_starttls_and_relay_to_foreign_domain_is_queued(self):
        with self.submission() as c:
            c.starttls(context=tls_context())
            c.ehlo("client.example.net")
            self.assertTrue(c.has_extn("auth"))
            c.login(ALICE, PASSWORD)
            self.assertEqual(c.mail(ALICE)[0], 250)
            code, msg = c.rcpt("someone@example.org")
            self.assertEqual(code, 250, msg)
            code, msg = c.data(b"Subject: outbound\r\n\r\nhello world\r\n")
            self.assertEqual(code, 250, msg)
            self.assertIn(b"queued as", msg)
            queue_id = msg.split(b"queued as ")[1].strip().decode()
        # The message is in Postfix's queue (it cannot leave this machine).
        found = []
        for d in ("incoming", "active", "deferred"):
            for _, _, files in os.walk(self.server.queue_path(d)):
                found += [f for f in files if f == queue_id]
        if not found:
            self.assertIn(f"{queue_id}: from=<{ALICE}>", self.server.log())

    def test_sending_as_another_users_address_is_refused(self):
        with self.submission() as c:
            c.starttls(context=tls_context())
            c.ehlo("client.example.net")
            c.login(ALICE, PASSWORD)
            # Postfix delays the rejection to RCPT (smtpd_delay_reject).
            with self.assertRaises((smtplib.SMTPRecipientsRefused, smtplib.SMTPSenderRefused)) as cm:
                c.sendmail(BOB, ["someone@example.org"], b"Subject: forged\r\n\r\nx\r\n")
            self.assertIn(b"not owned by user", str(cm.exception).encode())
            c.rset()
            # An address nobody owns is refused too; an alias alice receives is hers.
            with self.assertRaises((smtplib.SMTPRecipientsRefused, smtplib.SMTPSenderRefused)):
                c.sendmail("ceo@example.org", ["someone@example.org"], b"Subject: forged\r\n\r\nx\r\n")
            c.rset()
            self.assertEqual(c.sendmail(f"sales@{DOMAIN}", [BOB], b"Subject: as alias\r\n\r\nx\r\n"), {})

    def test_submission_without_auth_cannot_send(self):
        with self.submission() as c:
            c.starttls(context=tls_context())
            c.ehlo("client.example.net")
            with self.assertRaises((smtplib.SMTPRecipientsRefused, smtplib.SMTPSenderRefused)):
                c.sendmail(ALICE, [BOB], b"Subject: no auth\r\n\r\nx\r\n")

    def test_smtps_auth_and_sender_ownership(self):
        with self.server.smtp("smtps", source=FOREIGN_SOURCE) as c:
            c.ehlo("client.example.net")
            self.assertTrue(c.has_extn("auth"))
            c.login(ALICE, PASSWORD)
            self.assertEqual(c.sendmail(ALICE, [BOB], b"Subject: over smtps\r\n\r\nhello bob\r\n"), {})
            with self.assertRaises((smtplib.SMTPRecipientsRefused, smtplib.SMTPSenderRefused)):
                c.sendmail(BOB, [ALICE], b"Subject: forged\r\n\r\nx\r\n")
        self.server.wait_for_message(BOB, "over smtps")

    def test_swaks_submission_with_starttls_and_auth(self):
        p = self.server_swaks("--to", BOB, "--from", ALICE, "--server", f"127.0.0.1:{self.server.ports['submission']}",
                              "--tls", "--auth", "PLAIN", "--auth-user", ALICE, "--auth-password", PASSWORD,
                              "--header", "Subject: via swaks")
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.server.wait_for_message(BOB, "via swaks")

    def server_swaks(self, *args):
        import subprocess
        return subprocess.run(["swaks", "--silent", "1", *args], capture_output=True, text=True, timeout=60)


if __name__ == "__main__":
    unittest.main()
