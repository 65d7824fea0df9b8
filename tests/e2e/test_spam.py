"""Spam filtering and greylisting (SPEC "Mail policy": abuse control) with the
real daemons: rspamd as Postfix's milter on port 25 with Redis, postgrey as
its policy service, IMAPSieve training rspamd through rspamc. One server
for the module (rspamd's first start compiles its patterns: the slow part).

VMAIL_SPAM=off (every other test's server) starting none of them is checked
in test_launcher_lifecycle."""

import os
import re
import smtplib
import subprocess
import time
import unittest

from server import FOREIGN_SOURCE, SPAM_SERVICES, Server, tls_context

GTUBE = "XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X"
# rspamd learns only a message of at least 11 tokens (min_tokens).
LONG_BODY = ("This message talks about the quarterly garden club meeting, the new greenhouse, "
             "the seed exchange on Saturday morning, tomatoes, peppers, beans, compost, "
             "watering schedules and who brings the coffee and biscuits this time around.\n")
# Scores between rspamd's add_header (6) and reject (15) thresholds offline
# (phishing link, undisclosed recipients, base64 subject: 11.7 by rspamc).
PHISH = ('From: "PayPal Security" <security@paypa1-verify.example.org>\r\n'
         "To: undisclosed-recipients:;\r\n"
         "Subject: =?UTF-8?B?VVJHRU5UOiB5b3VyIGFjY291bnQgd2lsbCBiZSBzdXNwZW5kZWQ=?=\r\n"
         "Reply-To: winner@freemail.example.net\r\n"
         "X-Test-Tag: junk-by-score\r\n"
         "MIME-Version: 1.0\r\nContent-Type: text/html; charset=utf-8\r\n\r\n"
         '<html><body><a href="http://192.0.2.1/login">https://www.paypal.com/login</a> Dear customer, '
         "verify your account now! Click here to claim your $1,000,000 prize.</body></html>\r\n")
# A client outside VMAIL_MYNETWORKS (127.0.0.1/32) that nothing else uses,
# so its first message is one postgrey has never seen.
GREYLISTED_SOURCE = "127.0.0.3"


def read_file(path):
    with open(path, "rb") as f:
        return f.read()


class SpamTest(unittest.TestCase):
    server = None

    @classmethod
    def setUpClass(cls):
        cls.server = Server(extra_env={"VMAIL_SPAM": "on", "VMAIL_GREYLIST": "on", "VMAIL_GREYLIST_DELAY": "2"})
        try:
            started = time.monotonic()
            cls.server.start(timeout=240)
            # Printed for the record (SPEC: measured, never asserted).
            print(f"\nspam layer: healthy {time.monotonic() - started:.1f} s after start", flush=True)
            cls.server.add_user("alice@example.test", "alice-password-1")
            cls.server.add_user("bob@example.test", "bob-password-1")
        except BaseException:
            cls.server.cleanup()
            raise

    @classmethod
    def tearDownClass(cls):
        if cls.server is not None:
            cls.server.cleanup()

    def rspamc(self, *args, input=None):
        port = self.server.ports["rspamd-controller"]
        p = subprocess.run(["rspamc", "-h", f"127.0.0.1:{port}", *args], input=input, capture_output=True,
                           timeout=60)
        self.assertEqual(p.returncode, 0, p.stderr)
        return p.stdout.decode(errors="replace")

    def learned(self):
        """rspamd's count of messages learned (rspamc stat)."""
        m = re.search(r"Messages learned: (\d+)", self.rspamc("stat"))
        self.assertIsNotNone(m)
        return int(m.group(1))

    def wait_learned_above(self, count, timeout=30):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            now = self.learned()
            if now > count:
                return now
            time.sleep(0.2)
        self.fail(f"rspamd learned nothing after {timeout} s (still {count})\n{self.server.log()[-4000:]}")

    def test_health_lists_the_spam_layer(self):
        p = self.server.health("--json")
        self.assertEqual(p.returncode, 0, p.stdout)
        for name in SPAM_SERVICES:
            self.assertIn(f'"{name}"', p.stdout)

    def test_gtube_is_refused_with_5_7_1(self):
        with self.assertRaises(smtplib.SMTPDataError) as refused:
            self.server.send("someone@example.org", ["alice@example.test"], "gtube", GTUBE + "\n")
        code, text = refused.exception.smtp_code, refused.exception.smtp_error.decode()
        self.assertEqual(code // 100, 5, text)
        self.assertIn("5.7.1", text)

    def test_plain_message_is_delivered_with_spam_headers(self):
        started = time.monotonic()
        self.server.send("someone@example.org", ["alice@example.test"], "plain-ham-1", LONG_BODY)
        self.server.wait_for_message("alice@example.test", "plain-ham-1")
        print(f"\nport 25 to maildir through rspamd: {time.monotonic() - started:.2f} s", flush=True)
        message = next(m for m in self.server.messages("alice@example.test") if b"plain-ham-1" in m)
        headers = message.split(b"\n\n", 1)[0]
        self.assertIn(b"X-Spamd-Result:", headers)
        self.assertIn(b"X-Spam-Status: No", headers)

    def test_spam_below_the_reject_score_is_filed_into_junk(self):
        with self.server.smtp() as s:
            self.assertEqual(s.sendmail("security@paypa1-verify.example.org", ["alice@example.test"], PHISH), {})
        junk = os.path.join(self.server.maildir("alice@example.test"), ".Junk", "new")
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            found = [n for n in (os.listdir(junk) if os.path.isdir(junk) else [])
                     if b"junk-by-score" in read_file(os.path.join(junk, n))]
            if found:
                break
            time.sleep(0.2)
        else:
            self.fail(f"nothing in Junk\n{self.server.log()[-4000:]}")
        with open(os.path.join(junk, found[0]), "rb") as f:
            headers = f.read().split(b"\n\n", 1)[0]
        self.assertIn(b"X-Spam-Status: Yes", headers)
        self.assertFalse(any(b"junk-by-score" in m for m in self.server.messages("alice@example.test")))

    def test_moving_into_and_out_of_junk_trains_rspamd(self):
        self.server.send("someone@example.org", ["bob@example.test"], "to-be-junked", LONG_BODY + "spam please\n")
        self.server.wait_for_message("bob@example.test", "to-be-junked")
        before = self.learned()
        c = self.server.imaps()
        try:
            c.login("bob@example.test", "bob-password-1")
            c.select("INBOX")
            typ, found = c.search(None, "SUBJECT", '"to-be-junked"')
            self.assertEqual(typ, "OK")
            number = found[0].split()[0]
            typ, _ = c.copy(number, "Junk")
            self.assertEqual(typ, "OK")
            after_spam = self.wait_learned_above(before)
            # Out of Junk again: learned as ham.
            c.select("Junk")
            typ, found = c.search(None, "SUBJECT", '"to-be-junked"')
            number = found[0].split()[0]
            typ, _ = c.copy(number, "INBOX")
            self.assertEqual(typ, "OK")
            self.wait_learned_above(after_spam)
        finally:
            c.logout()

    def test_what_rspamd_learned_survives_a_restart(self):
        # Redis keeps rspamd's learn cache on the state volume: after a
        # restart the same message is known as learned already.
        message = ("From: someone@example.org\r\nTo: alice@example.test\r\nSubject: learn once\r\n"
                   "Message-ID: <survives-restart@example.org>\r\n\r\n" + LONG_BODY + "once\r\n").encode()
        self.assertIn("success = true", self.rspamc("learn_spam", input=message))
        rc, _ = self.server.stop()
        self.assertEqual(rc, 0)
        self.server.start(timeout=240)
        port = self.server.ports["rspamd-controller"]
        again = subprocess.run(["rspamc", "-h", f"127.0.0.1:{port}", "learn_spam"], input=message,
                               capture_output=True, timeout=60).stdout.decode(errors="replace")
        self.assertIn("already learned", again)

    def test_unknown_client_is_greylisted_then_accepted(self):
        with self.assertRaises(smtplib.SMTPRecipientsRefused) as refused:
            self.server.send("grey@example.org", ["alice@example.test"], "greylisted-1", source=GREYLISTED_SOURCE)
        code, text = refused.exception.recipients["alice@example.test"]
        self.assertEqual(code // 100, 4, text)
        # The retry once the delay (2 s) has passed, as a sending server would.
        deadline = time.monotonic() + 60
        while True:
            time.sleep(1)
            try:
                self.server.send("grey@example.org", ["alice@example.test"], "greylisted-1",
                                 source=GREYLISTED_SOURCE)
                break
            except smtplib.SMTPRecipientsRefused:
                if time.monotonic() > deadline:
                    raise
        self.server.wait_for_message("alice@example.test", "greylisted-1")

    def test_authenticated_submission_is_never_greylisted(self):
        with self.server.smtp("submission", source=FOREIGN_SOURCE) as s:
            s.starttls(context=tls_context())
            s.login("alice@example.test", "alice-password-1")
            refused = s.sendmail("alice@example.test", ["bob@example.test"],
                                 "From: alice@example.test\r\nTo: bob@example.test\r\n"
                                 "Subject: submitted-first-try\r\n\r\nhello\r\n")
        self.assertEqual(refused, {})
        self.server.wait_for_message("bob@example.test", "submitted-first-try")


if __name__ == "__main__":
    unittest.main()
