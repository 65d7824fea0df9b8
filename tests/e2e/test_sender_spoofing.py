"""No spoofing of hosted domains on port 25 (issue 13, item 5): a client
neither authenticated nor in VMAIL_MYNETWORKS (127.0.0.2 with mynetworks
127.0.0.1/32) cannot use a sender address in a hosted domain or alias domain,
whether or not that address exists; other senders and the null sender (bounces)
still get through, and so do authenticated users and mynetworks.

One tenant never signs as another (issue 22): the From: header of mail from a
login must be an address that login may send as (vmail-milter, before
OpenDKIM), and nothing without a login is signed: not VMAIL_MYNETWORKS, not
the mail Sieve sends. One server per class."""

import json
import os
import signal
import smtplib
import uuid

from server import DOMAIN, FOREIGN_SOURCE, ServerTestCase, tls_context
from test_account_features import ManageSieve
from test_launcher_logins import eventually
from test_opendkim import dkim_tags, headers_named
from test_relay import verify_dkim

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


DEMO, OTHER_CEO = f"demo@{DOMAIN}", "ceo@other.test"
DEMO_PASSWORD = "demo-password-1"
OTHER_DOMAIN, DEMO_ALIAS_DOMAIN = "other.test", "demo-alias.test"


def signing_domains(message):
    """The d= of every DKIM-Signature in a raw message."""
    return [dkim_tags(v).get("d") for v in headers_named(message, "DKIM-Signature")]


class FromHeaderTest(ServerTestCase):
    """Issue 22, hole 5: demo@example.test may not sign as other.test."""

    @classmethod
    def prepare(cls, server):
        server.add_user(DEMO, DEMO_PASSWORD)
        server.add_user(BOB, "bob-password-1")
        server.vmail("domain", "add", OTHER_DOMAIN, check=0)
        server.add_user(OTHER_CEO, "ceo-password-1")
        server.vmail("alias", "add", f"info@{DOMAIN}", DEMO, check=0)
        server.vmail("domain", "alias", "add", DEMO_ALIAS_DOMAIN, DOMAIN, check=0)

    def submit(self, from_header, subject, envelope=DEMO, service="submission", extra_headers=""):
        """demo's login sends to BOB with `from_header` (None: no From:);
        returns (code, text) of the reply to the end of data."""
        with self.server.smtp(service, source=FOREIGN_SOURCE) as c:
            c.ehlo("client.example.net")
            if service == "submission":
                c.starttls(context=tls_context())
                c.ehlo("client.example.net")
            c.login(DEMO, DEMO_PASSWORD)
            self.assertEqual(c.mail(envelope)[0], 250)
            code, text = c.rcpt(BOB)
            self.assertEqual(code, 250, text)
            head = "" if from_header is None else f"From: {from_header}\r\n"
            code, text = c.data(f"{head}{extra_headers}To: {BOB}\r\nSubject: {subject}\r\n\r\nbody\r\n".encode())
            return code, text.decode()

    def delivered(self, subject):
        self.server.wait_for_message(BOB, subject)
        return next(m for m in self.server.messages(BOB) if subject.encode() in m)

    def test_another_tenants_from_is_refused_and_never_delivered(self):
        cases = [
            OTHER_CEO,
            f"Demo <{OTHER_CEO}>",
            "CEO@Other.TEST",
            f"{DEMO}, {OTHER_CEO}",
            f"Team: {DEMO}, {OTHER_CEO};",
            f'"{DEMO}"@{OTHER_DOMAIN}',
            f"{OTHER_CEO} <{DEMO}>",
            "=?utf-8?q?ceo=40other.test?=",
            f"bob@{DOMAIN}",  # another user of the login's own domain
        ]
        refused = []
        logged_before = self.server.log().count(f"refused From: of login {DEMO}")
        for i, from_header in enumerate(cases):
            with self.subTest(from_header=from_header):
                t = f"{token()}-forged-{i}"
                code, text = self.submit(from_header, t)
                self.assertEqual(code, 550, text)
                self.assertIn("5.7.1", text)
                self.assertTrue(text.endswith(f" (login {DEMO})"), text)
                refused.append(t)
        # The same over smtps, and a second From: field.
        t = f"{token()}-forged-smtps"
        code, text = self.submit(DEMO, t, service="smtps", extra_headers=f"From: {OTHER_CEO}\r\n")
        self.assertEqual((code, "5.7.1" in text), (550, True), text)
        refused.append(t)
        # One log line per refusal, naming the login and the address.
        log = self.server.log()
        self.assertEqual(log.count(f"refused From: of login {DEMO}") - logged_before, len(refused), log[-3000:])
        self.assertRegex(log, rf'vmail-milter: info: \w+: refused From: of login {DEMO}: From: "{OTHER_CEO}" is not '
                              rf'an address {DEMO} may send as\n')
        # Nothing was queued for them: a message sent after them arrives, they never do.
        after = token()
        self.assertEqual(self.submit(DEMO, after)[0], 250)
        self.delivered(after)
        self.server.wait_queue_empty()
        for t in refused:
            self.assertFalse(any(t.encode() in m for m in self.server.messages(BOB)), t)

    def test_own_address_alias_and_alias_domain_are_signed_by_their_domain(self):
        dns = {}
        for domain in (DOMAIN, DEMO_ALIAS_DOMAIN):
            dns[domain] = json.loads(self.server.vmail("--json", "domain", "dns", domain, check=0).stdout)["records"]
        cases = [
            (DEMO, DOMAIN),
            (f"Demo User <{DEMO.upper()}>", DOMAIN),
            (f"demo+news@{DOMAIN}", DOMAIN),
            (f"info@{DOMAIN}", DOMAIN),  # an alias delivering to demo
            (f"demo@{DEMO_ALIAS_DOMAIN}", DEMO_ALIAS_DOMAIN),  # demo's address at an alias domain
            # An address-like display name or comment decides nothing: the
            # signature is the real address's domain.
            (f'"{OTHER_CEO}" <{DEMO}>', DOMAIN),
            (f"{DEMO} ({OTHER_CEO})", DOMAIN),
            (None, DOMAIN),  # no From: Postfix adds the envelope sender, checked like any other
        ]
        for i, (from_header, domain) in enumerate(cases):
            with self.subTest(from_header=from_header):
                t = f"{token()}-own-{i}"
                code, text = self.submit(from_header, t)
                self.assertEqual(code, 250, text)
                message = self.delivered(t)
                self.assertEqual(signing_domains(message), [domain], message.decode(errors="replace"))
                result = verify_dkim(message, dns[domain])
                self.assertEqual((result["ok"], result["domain"]), (True, domain))

    def test_mynetworks_client_without_login_is_not_signed(self):
        # 127.0.0.1 is in VMAIL_MYNETWORKS: it may relay and use a hosted
        # sender, but no key signs its mail (it used to: OpenDKIM InternalHosts).
        for i, from_header in enumerate([DEMO, OTHER_CEO]):
            t = f"{token()}-local-{i}"
            with self.server.smtp("smtp", source="127.0.0.1") as c:
                c.sendmail(from_header, [BOB], f"From: {from_header}\r\nTo: {BOB}\r\nSubject: {t}\r\n\r\nx\r\n")
            message = self.delivered(t)
            self.assertEqual(signing_domains(message), [], message.decode(errors="replace"))

    def test_sieve_redirect_of_another_tenants_from_is_not_signed(self):
        # A stranger sends demo a message "From: ceo@other.test" (port 25 only
        # checks the envelope); demo's Sieve script redirects it to bob. The
        # redirect leaves through Postfix from 127.0.0.1 and must not come out
        # signed by other.test.
        c = ManageSieve(self.server.ports["managesieve"])
        try:
            c.starttls()
            self.assertTrue(c.authenticate(DEMO, DEMO_PASSWORD).startswith("OK"))
            self.assertTrue(c.putscript("fwd", f'redirect "{BOB}";\n').startswith("OK"))
            self.assertTrue(c.command('SETACTIVE "fwd"')[0].startswith("OK"))
        finally:
            c.close()
        try:
            t = f"{token()}-redirected"
            with self.server.smtp("smtp", source=FOREIGN_SOURCE) as s:
                s.sendmail("stranger@example.net", [DEMO],
                           f"From: {OTHER_CEO}\r\nTo: {DEMO}\r\nSubject: {t}\r\n\r\nx\r\n")
            message = self.delivered(t)
            self.assertEqual(signing_domains(message), [], message.decode(errors="replace"))
        finally:
            c = ManageSieve(self.server.ports["managesieve"])
            try:
                c.starttls()
                c.authenticate(DEMO, DEMO_PASSWORD)
                c.command('SETACTIVE ""')
            finally:
                c.close()

    def test_a_login_is_deferred_not_signed_unchecked_while_vmail_milter_is_down(self):
        s = self.server

        def milter_pid():
            for pid in (int(n) for n in os.listdir("/proc") if n.isdigit()):
                try:
                    with open(f"/proc/{pid}/cmdline", "rb") as f:
                        argv = f.read().split(b"\0")
                except OSError:
                    continue
                if argv[0].endswith(b"/vmail-milter") and s.root.encode() in b" ".join(argv):
                    return pid
            return None

        def reply_code(subject):
            try:
                with s.smtp("submission", source=FOREIGN_SOURCE) as c:
                    c.starttls(context=tls_context())
                    c.login(DEMO, DEMO_PASSWORD)
                    c.sendmail(DEMO, [BOB], f"From: {OTHER_CEO}\r\nSubject: {subject}\r\n\r\nx\r\n")
                return 250
            except smtplib.SMTPRecipientsRefused as e:
                return next(iter(e.recipients.values()))[0]
            except smtplib.SMTPResponseException as e:  # STARTTLS, MAIL or DATA refused
                return e.smtp_code

        def dead(pid):
            # Killed while the launcher is stopped: a zombie nobody reaps yet.
            try:
                with open(f"/proc/{pid}/stat") as f:
                    return f.read().rsplit(")", 1)[1].split()[0] == "Z"
            except OSError:
                return True

        pid = milter_pid()
        self.assertIsNotNone(pid)
        os.kill(s.proc.pid, signal.SIGSTOP)  # no restart while we look
        try:
            os.kill(pid, signal.SIGKILL)
            self.assertTrue(eventually(lambda: dead(pid)))
            code = reply_code(f"{token()}-milter-down")
            self.assertEqual(code // 100, 4, code)
        finally:
            os.kill(s.proc.pid, signal.SIGCONT)
            s.wait_healthy(timeout=30)
        self.assertNotEqual(milter_pid(), pid)
        self.assertEqual(reply_code(f"{token()}-milter-back"), 550)

if __name__ == "__main__":
    import unittest
    unittest.main()
