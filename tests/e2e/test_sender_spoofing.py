"""No spoofing of hosted domains on port 25 (issue 13, item 5): a client
neither authenticated nor in VMAIL_MYNETWORKS (127.0.0.2 with mynetworks
127.0.0.1/32) cannot use a sender address in a hosted domain or alias domain,
whether or not that address exists; other senders and the null sender (bounces)
still get through, and so do authenticated users and mynetworks. One server
for the class."""

import smtplib
import uuid

from server import DOMAIN, FOREIGN_SOURCE, ServerTestCase, tls_context
from test_launcher_logins import eventually

ALIAS_DOMAIN = "alias-of-primary.test"
ALICE, BOB = f"alice@{DOMAIN}", f"bob@{DOMAIN}"
PASSWORD = "alice-password-1"


def token():
    return "t-" + uuid.uuid4().hex[:12]


def refusal(server, sender, recipient=BOB, source=FOREIGN_SOURCE):
    """None when port 25 accepts MAIL FROM `sender` and RCPT `recipient`;
    else (code, text) of the refusal (Postfix delays it to RCPT)."""
    with server.smtp("smtp", source=source) as c:
        c.ehlo("client.example.net")
        code, text = c.mail(sender)
        if code == 250:
            code, text = c.rcpt(recipient)
        c.rset()
        return None if code == 250 else (code, text.decode())


class SenderSpoofingTest(ServerTestCase):
    @classmethod
    def prepare(cls, server):
        server.add_user(ALICE, PASSWORD)
        server.add_user(BOB, "bob-password-1")
        server.vmail("domain", "alias", "add", ALIAS_DOMAIN, DOMAIN, check=0)

    def assert_refused(self, sender, **kwargs):
        got = refusal(self.server, sender, **kwargs)
        self.assertIsNotNone(got, f"{sender} was accepted")
        code, text = got
        self.assertEqual(code // 100, 5, text)
        self.assertIn("5.7.1", text)

    def test_hosted_senders_are_refused_from_a_foreign_client(self):
        # Existing, missing (in no sender_logins line), other case, with a
        # recipient delimiter: the whole domain is covered.
        for sender in (ALICE, f"nobody@{DOMAIN}", f"Alice@{DOMAIN.upper()}", f"alice+tag@{DOMAIN}"):
            with self.subTest(sender=sender):
                self.assert_refused(sender)

    def test_alias_domain_senders_are_refused_from_a_foreign_client(self):
        for sender in (f"alice@{ALIAS_DOMAIN}", f"nobody@{ALIAS_DOMAIN}"):
            with self.subTest(sender=sender):
                self.assert_refused(sender)

    def test_a_domain_added_while_running_is_covered(self):
        self.server.vmail("domain", "add", "added-later.test", check=0)
        self.assertTrue(eventually(lambda: refusal(self.server, "x@added-later.test") is not None, timeout=15))
        self.assert_refused("x@added-later.test")

    def test_foreign_senders_subdomains_and_bounces_are_accepted(self):
        for sender in ("someone@example.net", f"someone@sub.{DOMAIN}", ""):
            with self.subTest(sender=sender):
                self.assertIsNone(refusal(self.server, sender))
        t = token()
        self.assertEqual(self.server.send("", [BOB], t, source=FOREIGN_SOURCE), {})
        self.server.wait_for_message(BOB, t)

    def test_mynetworks_may_use_a_hosted_sender(self):
        self.assertIsNone(refusal(self.server, ALICE, source="127.0.0.1"))

    def test_authenticated_user_may_send_as_own_address(self):
        t = token()
        with self.server.smtp("submission", source=FOREIGN_SOURCE) as c:
            c.ehlo("client.example.net")
            c.starttls(context=tls_context())
            c.ehlo("client.example.net")
            c.login(ALICE, PASSWORD)
            self.assertEqual(c.sendmail(ALICE, [BOB], f"Subject: {t}\r\n\r\nx\r\n".encode()), {})
            # Submission keeps its own rule: another user's address is refused.
            with self.assertRaises((smtplib.SMTPRecipientsRefused, smtplib.SMTPSenderRefused)) as cm:
                c.sendmail(BOB, [ALICE], b"Subject: forged\r\n\r\nx\r\n")
            self.assertIn(b"not owned by user", str(cm.exception).encode())
        self.server.wait_for_message(BOB, t)


if __name__ == "__main__":
    import unittest
    unittest.main()
