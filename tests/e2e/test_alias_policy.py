"""receive=off and quotas hold for every address that reaches a mailbox
(security issue 22, hole 6): aliases, nested aliases, alias domains and
catch-alls are refused at RCPT like the mailbox itself; an alias to several
mailboxes delivers to the others and skips the receive=off one; over-quota
mail through an alias is refused at RCPT, and an over-quota copy that gets
past RCPT is deferred by LMTP, never bounced. One server for the class."""

import os
import smtplib
import subprocess
import uuid

from server import DOMAIN, ServerTestCase, imap_login_ok
from test_account_features import rcpt_refusal
from test_launcher_logins import eventually

PASSWORD = "alias-policy-1"
ALIAS_DOMAIN = "alias-of-policy.test"
CATCH_DOMAIN = "catch-all-policy.test"

DEMO, BOB, SENDER = f"demo@{DOMAIN}", f"bob@{DOMAIN}", f"sender@{DOMAIN}"
QUINN, LIVE = f"quinn@{DOMAIN}", f"live@{CATCH_DOMAIN}"


def token():
    return "t-" + uuid.uuid4().hex[:12]


def refusal(server, address, size=None):
    """rcpt_refusal with the address taken out of the text (Postfix names it)."""
    r = rcpt_refusal(server, address, size=size)
    return None if r is None else (r[0], r[1].replace(f"<{address}>", "<>"))


class AliasPolicyTest(ServerTestCase):
    @classmethod
    def prepare(cls, server):
        server.vmail("domain", "add", CATCH_DOMAIN, check=0)
        for address in (DEMO, BOB, SENDER, QUINN, LIVE):
            server.add_user(address, PASSWORD)
        server.vmail("domain", "alias", "add", ALIAS_DOMAIN, DOMAIN, check=0)
        server.vmail("alias", "add", f"sales@{DOMAIN}", DEMO, check=0)
        server.vmail("alias", "add", f"desk@{DOMAIN}", f"sales@{DOMAIN}", check=0)  # nested
        server.vmail("alias", "add", f"team@{DOMAIN}", f"{DEMO},{BOB}", check=0)
        server.vmail("alias", "add", f"@{CATCH_DOMAIN}", DEMO, check=0)
        server.vmail("alias", "add", f"full@{DOMAIN}", QUINN, check=0)
        server.vmail("alias", "add", f"crew@{DOMAIN}", f"{QUINN},{BOB}", check=0)
        server.vmail("user", "access", DEMO, "receive=off", check=0)
        # quinn: one message of ~3 KB, then a 1K quota: over quota for any message.
        server.send("x@example.net", [QUINN], "filler", body="x" * 3000 + "\n")
        server.wait_for_message(QUINN, "filler")
        server.vmail("user", "quota", QUINN, "1K", check=0)
        assert eventually(lambda: rcpt_refusal(server, QUINN, size=500) is not None, timeout=15)

    def bounces_to(self, address):
        """Messages in `address`'s mailbox that are delivery status reports."""
        return [m for m in self.server.messages(address) if b"multipart/report" in m]

    def deferred(self):
        out = []
        for _, _, files in os.walk(self.server.queue_path("deferred")):
            out.extend(files)
        return out

    # receive=off ------------------------------------------------------------
    def test_every_address_reaching_only_a_receive_off_mailbox_is_refused_like_it(self):
        s = self.server
        direct = refusal(s, DEMO)
        self.assertIsNotNone(direct)
        self.assertEqual(direct[0], 550, direct)
        for address in (f"sales@{DOMAIN}", f"desk@{DOMAIN}", f"sales+tag@{DOMAIN}", f"demo@{ALIAS_DOMAIN}",
                        f"sales@{ALIAS_DOMAIN}", f"desk@{ALIAS_DOMAIN}", f"anyone@{CATCH_DOMAIN}",
                        f"other+x@{CATCH_DOMAIN}"):
            with self.subTest(address=address):
                self.assertEqual(refusal(s, address), direct)

    def test_other_addresses_of_the_catch_all_domain_and_mixed_aliases_pass(self):
        s = self.server
        for address in (LIVE, f"team@{DOMAIN}", f"team@{ALIAS_DOMAIN}", BOB, f"bob@{ALIAS_DOMAIN}"):
            with self.subTest(address=address):
                self.assertIsNone(rcpt_refusal(s, address))

    def test_alias_to_several_mailboxes_skips_the_receive_off_one_without_a_bounce(self):
        s, t = self.server, token()
        self.assertEqual(s.send(SENDER, [f"team@{DOMAIN}"], t), {})
        s.wait_for_message(BOB, t)
        s.wait_queue_empty()
        self.assertFalse(any(t.encode() in m for m in s.messages(DEMO)))
        self.assertEqual(self.bounces_to(SENDER), [])

    def test_refused_recipients_leave_nothing_queued_and_no_bounce(self):
        s, t = self.server, token()
        with self.assertRaises(smtplib.SMTPRecipientsRefused) as cm:
            s.send(SENDER, [f"sales@{DOMAIN}", f"anyone@{CATCH_DOMAIN}"], t)
        self.assertEqual({code for code, _ in cm.exception.recipients.values()}, {550})
        s.wait_queue_empty()
        self.assertFalse(any(t.encode() in m for m in s.messages(DEMO)))
        self.assertEqual(self.bounces_to(SENDER), [])

    # Quotas -----------------------------------------------------------------
    def test_over_quota_through_an_alias_is_refused_at_rcpt_like_the_mailbox(self):
        s = self.server
        direct = refusal(s, QUINN, size=500)
        self.assertEqual(direct[0], 552, direct)
        self.assertIn("5.2.2", direct[1])
        for address in (f"full@{DOMAIN}", f"full@{ALIAS_DOMAIN}", f"quinn@{ALIAS_DOMAIN}"):
            with self.subTest(address=address):
                self.assertEqual(refusal(s, address, size=500), direct)
        # Without SIZE= too: the mailbox is over its quota already.
        self.assertEqual(rcpt_refusal(s, f"full@{DOMAIN}")[0], 552)

    def test_alias_quotas_are_a_userdb_for_quota_status_alone(self):
        s = self.server

        def doveadm_user(*args):
            return subprocess.run(["doveadm", "-c", s.dovecot_conf, "user", *args], capture_output=True, text=True,
                                  timeout=30)

        seen = doveadm_user("-x", "service=quota-status", "-f", "home", f"full@{DOMAIN}")
        self.assertEqual(seen.returncode, 0, seen.stderr)
        self.assertEqual(seen.stdout.strip(), os.path.dirname(s.maildir(QUINN)))
        for service in ("imap", "pop3", "lmtp", "smtp"):
            with self.subTest(service=service):
                self.assertNotEqual(doveadm_user("-x", f"service={service}", f"full@{DOMAIN}").returncode, 0)
        self.assertFalse(imap_login_ok(s, f"full@{DOMAIN}", PASSWORD))

    def test_over_quota_through_an_alias_makes_no_bounce(self):
        s, t = self.server, token()
        with self.assertRaises(smtplib.SMTPRecipientsRefused) as cm:
            s.send(SENDER, [f"full@{DOMAIN}"], t)
        self.assertEqual([code for code, _ in cm.exception.recipients.values()], [552])
        s.wait_queue_empty()
        self.assertEqual(self.bounces_to(SENDER), [])

    def test_over_quota_copy_behind_a_several_mailbox_alias_is_deferred_not_bounced(self):
        s, t = self.server, token()
        self.assertEqual(s.send(SENDER, [f"crew@{DOMAIN}"], t), {})
        s.wait_for_message(BOB, t)
        self.assertTrue(eventually(lambda: self.deferred() != [], timeout=30), s.log()[-3000:])
        s.wait_queue_empty()
        self.assertEqual(self.bounces_to(SENDER), [])
        self.assertFalse(any(t.encode() in m for m in s.messages(QUINN)))
