"""Account features enforced by the real daemons (issue 12): per-service
access switches, quotas at SMTP time with warnings, Sieve filtering over
ManageSieve, and vacation replies. One server for the whole class."""

import base64
import json
import os
import pwd
import subprocess
import smtplib
import socket
import time

from server import DOMAIN, FOREIGN_SOURCE, ServerTestCase, imap_login_ok, tls_context
from test_launcher_logins import eventually, pop3_login_ok, smtp_auth_ok

PASSWORD = "account-features-1"


class ManageSieve:
    """A minimal ManageSieve client (RFC 5804): enough for STARTTLS,
    AUTHENTICATE PLAIN, PUTSCRIPT, SETACTIVE and LISTSCRIPTS."""

    def __init__(self, port, source=FOREIGN_SOURCE):
        self.sock = socket.create_connection(("127.0.0.1", port), 30, source_address=(source, 0))
        self.file = self.sock.makefile("rb")
        self.greeting = self.response()

    def response(self):
        """(status line, lines before it)."""
        lines = []
        while True:
            raw = self.file.readline()
            if not raw:
                raise ConnectionError("ManageSieve server closed the connection")
            line = raw.decode().rstrip("\r\n")
            if line.startswith(("OK", "NO", "BYE")):
                return line, lines
            lines.append(line)

    def command(self, text):
        self.sock.sendall(text.encode() + b"\r\n")
        return self.response()

    def starttls(self):
        status, _ = self.command("STARTTLS")
        assert status.startswith("OK"), status
        self.sock = tls_context().wrap_socket(self.sock)
        self.file = self.sock.makefile("rb")
        return self.response()  # capabilities again, now with SASL PLAIN

    def authenticate(self, user, password):
        token = base64.b64encode(b"\0" + user.encode() + b"\0" + password.encode()).decode()
        status, _ = self.command(f'AUTHENTICATE "PLAIN" "{token}"')
        return status

    def putscript(self, name, text):
        data = text.encode()
        status, _ = self.command(f'PUTSCRIPT "{name}" {{{len(data)}+}}\r\n{text}')
        return status

    def close(self):
        try:
            self.command("LOGOUT")
        except (OSError, ConnectionError):
            pass
        self.sock.close()


def sieve_login(server, address, password):
    """The ManageSieve AUTHENTICATE status line after STARTTLS."""
    c = ManageSieve(server.ports["managesieve"])
    try:
        c.starttls()
        return c.authenticate(address, password)
    finally:
        c.close()


def rcpt_refusal(server, recipient, size=None, body="hello\n"):
    """None when `recipient` is accepted at RCPT; else (code, text). Sends
    from a foreign client on port 25, with SIZE= when `size` is given."""
    with server.smtp("smtp", source=FOREIGN_SOURCE) as c:
        c.ehlo("client.example.net")
        options = [f"SIZE={size}"] if size else []
        code, text = c.mail("someone@example.net", options)
        assert code == 250, (code, text)
        code, text = c.rcpt(recipient)
        c.rset()
        return None if code == 250 else (code, text.decode())


class AccountFeaturesTest(ServerTestCase):
    NAMES = ("alice", "bob", "carol", "dave", "erin", "fay", "gus", "quinn", "walt", "sam", "vic", "ann")

    @classmethod
    def prepare(cls, server):
        for name in cls.NAMES:
            server.add_user(f"{name}@{DOMAIN}", PASSWORD)

    def addr(self, name):
        return f"{name}@{DOMAIN}"

    def access(self, name, *switches, check=0):
        return self.server.vmail("user", "access", self.addr(name), *switches, check=check)

    # Access switches ----------------------------------------------------------
    def test_imap_off_refuses_imap_only(self):
        s, carol = self.server, self.addr("carol")
        self.assertTrue(imap_login_ok(s, carol, PASSWORD))
        self.access("carol", "imap=off")
        self.assertTrue(eventually(lambda: not imap_login_ok(s, carol, PASSWORD)))
        self.assertTrue(pop3_login_ok(s, carol, PASSWORD))
        self.assertTrue(smtp_auth_ok(s, carol, PASSWORD))
        self.access("carol", "imap=on")
        self.assertTrue(eventually(lambda: imap_login_ok(s, carol, PASSWORD)))

    def test_pop3_off_refuses_pop3_only(self):
        s, dave = self.server, self.addr("dave")
        self.access("dave", "pop3=off")
        self.assertTrue(eventually(lambda: not pop3_login_ok(s, dave, PASSWORD)))
        self.assertTrue(imap_login_ok(s, dave, PASSWORD))

    def test_send_off_refuses_smtp_auth(self):
        s, erin = self.server, self.addr("erin")
        self.assertTrue(smtp_auth_ok(s, erin, PASSWORD))
        self.access("erin", "send=off")
        self.assertTrue(eventually(lambda: not smtp_auth_ok(s, erin, PASSWORD)))
        self.assertTrue(imap_login_ok(s, erin, PASSWORD))

    def test_sieve_off_refuses_managesieve_auth(self):
        s, fay = self.server, self.addr("fay")
        self.assertTrue(sieve_login(s, fay, PASSWORD).startswith("OK"))
        self.access("fay", "sieve=off")
        self.assertTrue(eventually(lambda: sieve_login(s, fay, PASSWORD).startswith("NO")))
        self.assertTrue(imap_login_ok(s, fay, PASSWORD))

    def test_receive_off_refused_at_rcpt_but_logs_in(self):
        s, gus = self.server, self.addr("gus")
        self.assertIsNone(rcpt_refusal(s, gus))
        self.access("gus", "receive=off")
        self.assertTrue(eventually(lambda: rcpt_refusal(s, gus) is not None, timeout=15))
        code, text = rcpt_refusal(s, gus)
        self.assertEqual(code // 100, 5, text)
        self.assertTrue(imap_login_ok(s, gus, PASSWORD))
        self.access("gus", "receive=on")
        self.assertTrue(eventually(lambda: rcpt_refusal(s, gus) is None, timeout=15))

    def test_access_shown_as_text_and_json(self):
        s = self.server
        self.access("ann", "pop3=off", "send=off")
        self.assertIn("imap=on pop3=off sieve=on send=off receive=on", self.access("ann").stdout)
        doc = json.loads(s.vmail("--json", "user", "access", self.addr("ann"), check=0).stdout)
        self.assertEqual(doc, {"imap": True, "pop3": False, "sieve": True, "send": False, "receive": True})
        shown = json.loads(s.vmail("--json", "user", "show", self.addr("ann"), check=0).stdout)
        self.assertEqual(shown["access"], doc)
        self.assertEqual(shown["address"], self.addr("ann"))
        # The server runs: usage comes from Dovecot.
        self.assertEqual(set(shown["usage"]), {"storage", "messages"})
        # A refused switch changes nothing.
        self.access("ann", "imap=off", "smtp=off", check=65)
        self.assertIn("imap=on", self.access("ann").stdout)

    # Quotas ---------------------------------------------------------------------
    def test_over_quota_refused_at_rcpt_alias_passes(self):
        s, quinn, bob = self.server, self.addr("quinn"), self.addr("bob")
        s.vmail("alias", "add", f"team@{DOMAIN}", bob, check=0)
        s.send("x@example.net", [quinn], "filler one", body="x" * 3000 + "\n")
        s.wait_for_message(quinn, "filler one")
        s.vmail("user", "quota", quinn, "1K", check=0)
        self.assertTrue(eventually(lambda: rcpt_refusal(s, quinn, size=500) is not None, timeout=15))
        code, text = rcpt_refusal(s, quinn, size=500)
        self.assertEqual(code, 552, text)
        self.assertIn("5.2.2", text)
        # An alias is no mailbox: passed on, never refused as unknown.
        self.assertIsNone(rcpt_refusal(s, f"team@{DOMAIN}", size=500))
        s.send("x@example.net", [f"team@{DOMAIN}"], "for the team")
        s.wait_for_message(bob, "for the team")
        usage = json.loads(s.vmail("--json", "user", "show", quinn, check=0).stdout)["usage"]
        self.assertEqual(usage["messages"], 1)
        self.assertGreater(usage["storage"], 0)

    def test_quota_warning_at_80_percent(self):
        s, walt = self.server, self.addr("walt")
        s.vmail("user", "quota", walt, "10K", check=0)
        time.sleep(1.2)  # Dovecot re-reads the users file at most once a second
        s.send("x@example.net", [walt], "big one", body=("y" * 75 + "\n") * 110)  # ~8.5 KiB
        s.wait_for_message(walt, "big one")
        s.wait_for_message(walt, "80% full")
        self.assertFalse(any(b"95% full" in m for m in s.messages(walt)))
        # The script ran as the vmail user, never as root (issue 22): what
        # Dovecot itself reads from the configuration it runs with.
        p = subprocess.run(["doveconf", "-c", s.dovecot_conf, "-h", "service/quota-warning/user"], capture_output=True,
                           text=True, timeout=60, check=True)
        self.assertEqual(p.stdout.strip(), pwd.getpwuid(int(s.env.get("VMAIL_UID", "5000"))).pw_name)

    # Sieve ------------------------------------------------------------------------
    def test_managesieve_requires_tls_then_filters_delivery(self):
        s, sam = self.server, self.addr("sam")
        # AUTH only after TLS (from a client Dovecot does not treat as local).
        c = ManageSieve(s.ports["managesieve"])
        try:
            before = c.authenticate(sam, PASSWORD)
            self.assertTrue(before.startswith("NO"), before)
        finally:
            c.close()
        c = ManageSieve(s.ports["managesieve"])
        try:
            _, caps = c.starttls()
            self.assertTrue(any('"SIEVE"' in line and "fileinto" in line for line in caps), caps)
            after = c.authenticate(sam, PASSWORD)
            self.assertTrue(after.startswith("OK"), (after, caps))
            rule = 'require "fileinto";\nif header :contains "subject" "[work]" {\n  fileinto "Work";\n}\n'
            self.assertTrue(c.putscript("rules", rule).startswith("OK"))
            self.assertTrue(c.command('SETACTIVE "rules"')[0].startswith("OK"))
        finally:
            c.close()
        s.send("boss@example.net", [sam], "[work] quarterly report")
        s.send("friend@example.net", [sam], "lunch?")
        work = os.path.join(s.maildir(sam), ".Work")
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            found = [n for sub in ("new", "cur") if os.path.isdir(os.path.join(work, sub))
                     for n in os.listdir(os.path.join(work, sub))]
            if found:
                break
            time.sleep(0.2)
        self.assertTrue(found, s.log()[-3000:])
        s.wait_for_message(sam, "lunch?")
        inbox = s.messages(sam)
        self.assertFalse(any(b"quarterly report" in m for m in inbox))

    def test_vacation_answers_each_sender_once(self):
        s, vic, alice = self.server, self.addr("vic"), self.addr("alice")
        message = os.path.join(s.root, "vacation.txt")
        with open(message, "w") as f:
            f.write('Back on Monday. "Quotes" and \\backslashes\\ survive.\n')
        s.vmail("user", "vacation", vic, "--subject", "Out of office", "--message-file", message, check=0)
        s.send(alice, [vic], "first question")
        s.send(alice, [vic], "second question")
        s.wait_for_message(vic, "second question")
        s.wait_for_message(alice, "Out of office")
        time.sleep(3)
        s.wait_queue_empty()
        replies = [m for m in s.messages(alice) if b"Out of office" in m]
        self.assertEqual(len(replies), 1)
        self.assertIn(b"Back on Monday", replies[0])
        self.assertIn(b"Auto-Submitted: auto-replied", replies[0])
        s.vmail("user", "vacation", vic, "--off", check=0)
        self.assertFalse(os.path.exists(os.path.join(os.path.dirname(s.maildir(vic)), ".vmail-vacation.sieve")))

    def test_vacation_until_and_bad_input(self):
        s, ann = self.server, self.addr("ann")
        script = os.path.join(os.path.dirname(s.maildir(ann)), ".vmail-vacation.sieve")
        message = os.path.join(s.root, "away.txt")
        with open(message, "w") as f:
            f.write("Away.\n")
        for bad, field in ((["--until", "2026-02-30"], "--until"), (["--until", "tomorrow"], "--until"),
                           (["--subject", "a\rb"], "--subject")):
            args = ["--subject", "Away"] + bad if bad[0] != "--subject" else bad
            p = s.vmail("user", "vacation", ann, *args, "--message-file", message, check=65)
            self.assertIn(field, p.stderr)
            self.assertFalse(os.path.exists(script))
        s.vmail("user", "vacation", ann, "--subject", "Away", "--message-file", message, "--until", "2099-12-31",
                check=0)
        with open(script) as f:
            text = f.read()
        self.assertIn('currentdate :value "le" "date" "2099-12-31"', text)
        st = os.stat(script)
        self.assertEqual((st.st_uid, st.st_mode & 0o777), (5000, 0o600))
        s.vmail("user", "vacation", ann, "--off", check=0)
        self.assertFalse(os.path.exists(script))

    # Health -----------------------------------------------------------------------
    def test_health_covers_managesieve_and_quota_status(self):
        doc = json.loads(self.server.health("--json").stdout)
        for name in ("managesieve", "quota-status"):
            self.assertEqual(doc["services"][name]["status"], "healthy", doc)
            self.assertEqual(doc["services"][name]["port"], self.server.ports[name])
