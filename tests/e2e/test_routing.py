"""Mail routing through the real Postfix and Dovecot (issue 12, "account
features"): alias domains (delivery, unknown users refused at RCPT, sending
as x@ALIAS) and forwarding mailboxes with and without a kept copy."""

import smtplib
import unittest
import uuid

from server import DOMAIN, FOREIGN_SOURCE, ServerTestCase, tls_context

ALIAS_DOMAIN = "alias-of-primary.test"
ALICE, BOB = f"alice@{DOMAIN}", f"bob@{DOMAIN}"
FWD, KEEPER = f"fwd@{DOMAIN}", f"keeper@{DOMAIN}"
PASSWORDS = {ALICE: "alice-password-1", BOB: "bob-password-1", FWD: "fwd-password-1", KEEPER: "keeper-password-1"}


def token():
    return "t-" + uuid.uuid4().hex[:12]


class RoutingTest(ServerTestCase):
    @classmethod
    def prepare(cls, server):
        for address, password in PASSWORDS.items():
            server.add_user(address, password)
        server.vmail("domain", "alias", "add", ALIAS_DOMAIN, DOMAIN, check=0)
        server.vmail("alias", "add", f"sales@{DOMAIN}", ALICE, check=0)
        server.vmail("user", "forward", FWD, BOB, check=0)
        server.vmail("user", "forward", KEEPER, BOB, "--keep", check=0)

    def has(self, address, needle):
        return any(needle.encode() in m for m in self.server.messages(address))

    def test_mail_to_the_alias_domain_reaches_the_target_mailbox_and_alias(self):
        s = self.server
        t_box, t_alias = token(), token()
        self.assertEqual(s.send("x@example.net", [f"alice@{ALIAS_DOMAIN}"], t_box), {})
        self.assertEqual(s.send("x@example.net", [f"sales@{ALIAS_DOMAIN}"], t_alias), {})
        s.wait_for_message(ALICE, t_box)
        s.wait_for_message(ALICE, t_alias)

    def test_unknown_user_at_the_alias_domain_is_refused_at_rcpt(self):
        with self.server.smtp() as c:
            c.ehlo("client.example.net")
            self.assertEqual(c.mail("x@example.net")[0], 250)
            code, msg = c.rcpt(f"nobody@{ALIAS_DOMAIN}")
            self.assertEqual(code, 550, msg)
            self.assertIn(b"5.1.1", msg)
            self.assertEqual(c.rcpt(f"bob@{ALIAS_DOMAIN}")[0], 250)

    def test_user_may_send_as_own_address_at_the_alias_domain_only(self):
        with self.server.smtp("submission", source=FOREIGN_SOURCE) as c:
            c.ehlo("client.example.net")
            c.starttls(context=tls_context())
            c.ehlo("client.example.net")
            c.login(ALICE, PASSWORDS[ALICE])
            t = token()
            self.assertEqual(c.sendmail(f"alice@{ALIAS_DOMAIN}", [BOB], f"Subject: {t}\r\n\r\nx\r\n".encode()), {})
            c.rset()
            with self.assertRaises((smtplib.SMTPRecipientsRefused, smtplib.SMTPSenderRefused)) as cm:
                c.sendmail(f"bob@{ALIAS_DOMAIN}", [BOB], b"Subject: forged\r\n\r\nx\r\n")
            self.assertIn(b"not owned by user", str(cm.exception).encode())
        self.server.wait_for_message(BOB, t)

    def test_forward_without_copy_and_with_keep(self):
        s = self.server
        t_fwd, t_keep = token(), token()
        self.assertEqual(s.send("x@example.net", [FWD], t_fwd), {})
        self.assertEqual(s.send("x@example.net", [KEEPER], t_keep), {})
        s.wait_for_message(BOB, t_fwd)
        s.wait_for_message(BOB, t_keep)
        s.wait_for_message(KEEPER, t_keep)
        s.wait_queue_empty()
        self.assertFalse(self.has(FWD, t_fwd), "without --keep the mailbox gets no copy")
        # A forwarding mailbox still logs in.
        imap = s.imaps()
        try:
            self.assertEqual(imap.login(FWD, PASSWORDS[FWD])[0], "OK")
        finally:
            imap.logout()


if __name__ == "__main__":
    unittest.main()
