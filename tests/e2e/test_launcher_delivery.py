"""Mail flow through the real Postfix and Dovecot started by vmail-launch:
SMTP in, LMTP delivery into the Maildir, IMAPS and POP3S out; aliases,
multi-destination aliases and catch-alls; unknown recipients and relaying
(issue 4, "Must show" 1-3)."""

import smtplib
import unittest
import uuid

from server import DOMAIN, FOREIGN_SOURCE, ServerTestCase

PASSWORDS = {
    f"alice@{DOMAIN}": "alice-password-1",
    f"bob@{DOMAIN}": "bob-password-1",
    f"carol@{DOMAIN}": "carol-password-1",
    "dave@other.test": "dave-password-1",
}


def token():
    return "t-" + uuid.uuid4().hex[:12]


class DeliveryTest(ServerTestCase):
    @classmethod
    def prepare(cls, server):
        server.vmail("domain", "add", "other.test", check=0)
        for address, password in PASSWORDS.items():
            server.add_user(address, password)
        server.vmail("alias", "add", f"info@{DOMAIN}", f"alice@{DOMAIN}", check=0)
        server.vmail("alias", "add", f"team@{DOMAIN}", f"alice@{DOMAIN},bob@{DOMAIN}", check=0)
        server.vmail("alias", "add", f"@{DOMAIN}", f"carol@{DOMAIN}", check=0)

    def test_mailbox_delivery_reads_back_over_imaps_and_pop3s(self):
        s = self.server
        alice = f"alice@{DOMAIN}"
        subject = token()
        refused = s.send("sender@example.net", [alice], subject, body="Hello over LMTP\n")
        self.assertEqual(refused, {})
        s.wait_for_message(alice, subject)

        imap = s.imaps()
        try:
            imap.login(alice, PASSWORDS[alice])
            imap.select("INBOX", readonly=True)
            typ, data = imap.search(None, "SUBJECT", subject)
            self.assertEqual(typ, "OK")
            ids = data[0].split()
            self.assertEqual(len(ids), 1, data)
            typ, fetched = imap.fetch(ids[0], "(RFC822)")
            self.assertIn(b"Hello over LMTP", fetched[0][1])
        finally:
            imap.logout()

        pop = s.pop3s()
        try:
            pop.user(alice)
            pop.pass_(PASSWORDS[alice])
            count, _ = pop.stat()
            bodies = [b"\n".join(pop.retr(i)[1]) for i in range(1, count + 1)]
            self.assertTrue(any(subject.encode() in b for b in bodies), bodies)
        finally:
            pop.quit()

    def test_alias_multi_destination_and_catch_all(self):
        s = self.server
        alice, bob, carol = (f"{n}@{DOMAIN}" for n in ("alice", "bob", "carol"))
        t_alias, t_team, t_catch, t_bob = token(), token(), token(), token()
        s.send("x@example.net", [f"info@{DOMAIN}"], t_alias)
        s.send("x@example.net", [f"team@{DOMAIN}"], t_team)
        s.send("x@example.net", [f"nobody-{t_catch}@{DOMAIN}"], t_catch)
        s.send("x@example.net", [bob], t_bob)
        s.wait_for_message(alice, t_alias)
        s.wait_for_message(alice, t_team)
        s.wait_for_message(bob, t_team)
        s.wait_for_message(carol, t_catch)
        s.wait_for_message(bob, t_bob)
        s.wait_queue_empty()

        def has(address, needle):
            return any(needle.encode() in m for m in s.messages(address))

        # The catch-all never takes mail meant for an existing mailbox or alias.
        self.assertFalse(has(carol, t_bob))
        self.assertFalse(has(carol, t_alias))
        self.assertFalse(has(carol, t_team))
        # Aliases deliver only to their destinations.
        self.assertFalse(has(bob, t_alias))
        self.assertFalse(has(alice, t_catch))

    def test_unknown_recipient_is_refused_at_rcpt(self):
        with self.server.smtp() as c:
            c.ehlo("client.example.net")
            code, _ = c.mail("x@example.net")
            self.assertEqual(code, 250)
            code, msg = c.rcpt("nobody@other.test")
            self.assertTrue(500 <= code < 600, (code, msg))
            # A known one in the same session is still accepted.
            code, _ = c.rcpt("dave@other.test")
            self.assertEqual(code, 250)

    def test_relay_without_auth_from_foreign_client_is_refused(self):
        with self.server.smtp(source=FOREIGN_SOURCE) as c:
            c.ehlo("client.example.net")
            c.mail("x@example.net")
            code, msg = c.rcpt("someone@example.org")
            self.assertTrue(500 <= code < 600, (code, msg))
            self.assertIn(b"Relay access denied", msg)
        with self.assertRaises(smtplib.SMTPRecipientsRefused):
            self.server.send("x@example.net", ["someone@example.org"], token(), source=FOREIGN_SOURCE)

    def test_relay_from_mynetworks_is_accepted(self):
        # 127.0.0.1/32 is VMAIL_MYNETWORKS: it may relay without AUTH.
        with self.server.smtp() as c:
            c.ehlo("client.example.net")
            c.mail("x@example.net")
            code, msg = c.rcpt("someone@example.org")
            self.assertEqual(code, 250, msg)
            c.rset()

    def test_auth_is_not_offered_on_port_25(self):
        with self.server.smtp(source=FOREIGN_SOURCE) as c:
            c.ehlo("client.example.net")
            self.assertTrue(c.has_extn("starttls"))
            self.assertFalse(c.has_extn("auth"))


if __name__ == "__main__":
    unittest.main()
