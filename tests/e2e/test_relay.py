"""Outbound mail through a relay host (issue 13, item 4): VMAIL_RELAY_HOST,
VMAIL_RELAY_USER and VMAIL_RELAY_PASSWORD_FILE. The relay is a local SMTP sink
(relay_sink.py, python3-aiosmtpd) that requires STARTTLS and AUTH; the server
relays an authenticated user's mail to it, a wrong password leaves the mail
deferred (never bounced), and the password shows up nowhere but its 0600 map.
The relay's certificate is verified by default (issue 22, item 2): against
VMAIL_RELAY_CA_FILE, else the system CAs, which do not know the sink, so the
mail stays queued and the password is never sent. The sink is reached as
127.0.0.1, and Postfix never matches an IP-address next hop against a
certificate ("hostname mismatch", whatever names it holds), and every name
is NXDOMAIN here: so the delivering tests use VMAIL_RELAY_TLS=encrypt, the
explicit opt-out. One server (and one sink) per class."""

import json
import os
import shutil
import signal
import stat
import subprocess
import tempfile
import time
import uuid

from harness import free_ports
from server import DOMAIN, FOREIGN_SOURCE, Server, ServerTestCase, processes_under, tls_context

ALICE, BOB = f"alice@{DOMAIN}", f"bob@{DOMAIN}"
PASSWORD = "alice-password-1"
RELAY_USER = "relay-user@example.net"
# A space and a colon inside: both must survive Postfix's map syntax.
RELAY_PASSWORD = "Relay pass:" + uuid.uuid4().hex
SINK = os.path.join(os.path.dirname(os.path.abspath(__file__)), "relay_sink.py")
# Debian's interpreter has python3-aiosmtpd; the tests' own may not.
DEBIAN_PYTHON = "/usr/bin/python3"


def token():
    return "t-" + uuid.uuid4().hex[:12]


def relay_cert(dirname, name):
    """A self-signed certificate for the relay at 127.0.0.1. Postfix's
    `secure` level matches the next hop (here "127.0.0.1") against DNS names."""
    key, cert = os.path.join(dirname, f"{name}.key"), os.path.join(dirname, f"{name}.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert, "-days",
                    "2", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=DNS:127.0.0.1,IP:127.0.0.1"],
                   check=True, capture_output=True, timeout=60)
    return cert, key


def eventually(check, timeout=30, step=0.2):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(step)
    return check()


VERIFY = r"""
import json, sys, dkim
message, records = sys.stdin.buffer.read(), json.loads(sys.argv[1])
def dnsfunc(name, timeout=5):
    value = records.get(name.decode())
    return value.encode() if value is not None else None
signature = dkim.DKIM(message)
ok = signature.verify(dnsfunc=dnsfunc)
print(json.dumps({"ok": bool(ok), "selector": (signature.selector or b"").decode(),
                  "domain": (signature.domain or b"").decode()}))
"""


def verify_dkim(message, dns_records):
    """Verifies the first DKIM-Signature of `message` with python3-dkim,
    the public keys taken only from `vmail domain dns --json` records."""
    txt = {r["name"]: r["value"] for r in dns_records if r["type"] == "TXT" and "._domainkey." in r["name"]}
    p = subprocess.run([DEBIAN_PYTHON, "-c", VERIFY, json.dumps(txt)], input=message, capture_output=True,
                       timeout=60)
    if p.returncode != 0:
        raise AssertionError(p.stderr.decode(errors="replace"))
    return json.loads(p.stdout)


class RelaySink:
    """relay_sink.py on a free loopback port, with its own certificate."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="vmail-relay-sink-")
        os.chmod(self.dir, 0o755)
        self.cert, self.key = relay_cert(self.dir, "relay")
        self.password_file = os.path.join(self.dir, "relay-password")
        self.write_password(RELAY_PASSWORD)
        self.log = os.path.join(self.dir, "events.jsonl")
        self.port = free_ports(1)[0]
        # Its output goes to a file, not a pipe nobody reads (which could fill).
        self.output = os.path.join(self.dir, "sink.out")
        with open(self.output, "w") as out:
            self.proc = subprocess.Popen([DEBIAN_PYTHON, SINK, "--port", str(self.port), "--cert", self.cert, "--key",
                                          self.key, "--user", RELAY_USER, "--password-file", self.password_file,
                                          "--log", self.log], stdout=out, stderr=subprocess.STDOUT)
        eventually(lambda: self.proc.poll() is not None or "ready" in self.read_output(), timeout=20)
        if "ready" not in self.read_output():
            output = self.read_output()
            self.stop()
            raise AssertionError(f"relay sink did not start: {output}")

    def read_output(self):
        with open(self.output, errors="replace") as f:
            return f.read()

    def write_password(self, password):
        with open(self.password_file, "w") as f:
            f.write(password + "\n")

    def events(self):
        try:
            with open(self.log) as f:
                return [json.loads(line) for line in f if line.strip()]
        except FileNotFoundError:
            return []

    def message_with(self, needle):
        return next((e for e in self.events() if e["event"] == "message" and needle in e["data"]), None)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


class RelayTest(ServerTestCase):
    sink = None

    @classmethod
    def relay_env(cls):
        """The relay, its certificate not verified (the explicit opt-out)."""
        return {**cls.unverified_relay_env(), "VMAIL_RELAY_TLS": "encrypt"}

    @classmethod
    def unverified_relay_env(cls):
        return {"VMAIL_RELAY_HOST": f"127.0.0.1:{cls.sink.port}", "VMAIL_RELAY_USER": RELAY_USER,
                "VMAIL_RELAY_PASSWORD_FILE": cls.sink.password_file}

    @classmethod
    def setUpClass(cls):
        cls.sink = RelaySink()
        cls.extra_env = cls.relay_env()
        try:
            super().setUpClass()
        except BaseException:
            cls.sink.stop()
            raise

    @classmethod
    def tearDownClass(cls):
        try:
            super().tearDownClass()
        finally:
            cls.sink.stop()

    @classmethod
    def prepare(cls, server):
        server.add_user(ALICE, PASSWORD)
        server.add_user(BOB, "bob-password-1")

    def submit(self, recipient, subject):
        """Alice sends over submission (STARTTLS + AUTH); returns the queue id."""
        with self.server.smtp("submission", source=FOREIGN_SOURCE) as c:
            c.ehlo("client.example.net")
            c.starttls(context=tls_context())
            c.ehlo("client.example.net")
            c.login(ALICE, PASSWORD)
            self.assertEqual(c.mail(ALICE)[0], 250)
            code, msg = c.rcpt(recipient)
            self.assertEqual(code, 250, msg)
            code, msg = c.data(f"From: {ALICE}\r\nTo: {recipient}\r\nSubject: {subject}\r\n\r\nhello\r\n".encode())
            self.assertEqual(code, 250, msg)
            return msg.split(b"queued as ")[1].strip().decode()

    def reconfigure(self):
        """SIGHUP: the launcher reads the password file again and rewrites the map."""
        def reloads():
            return sum(1 for line in self.server.log().splitlines() if line.rstrip().endswith(" reloaded"))

        before = reloads()
        self.server.proc.send_signal(signal.SIGHUP)
        self.assertTrue(eventually(lambda: reloads() > before), self.server.log()[-3000:])

    def in_queue(self, queue_id, folder):
        return any(queue_id in files for _, _, files in os.walk(self.server.queue_path(folder)))

    def test_authenticated_mail_to_a_remote_address_leaves_through_the_relay_with_auth_over_tls(self):
        t = token()
        self.submit("someone@example.net", t)
        message = eventually(lambda: self.sink.message_with(t))
        self.assertIsNotNone(message, self.server.log()[-3000:])
        self.assertEqual(message["mail_from"], ALICE)
        self.assertEqual(message["rcpt_tos"], ["someone@example.net"])
        self.assertTrue(message["tls"], "the relay got the message over STARTTLS")
        self.assertEqual(message["login"], RELAY_USER)
        auths = [e for e in self.sink.events() if e["event"] == "auth"]
        self.assertTrue(any(e["ok"] and e["login"] == RELAY_USER for e in auths), auths)
        self.assertTrue(all(e["tls"] for e in auths), "AUTH only ever over TLS")
        self.assertTrue(eventually(lambda: "relay=127.0.0.1" in self.server.log()), self.server.log()[-3000:])

    def test_relayed_mail_is_dkim_signed_and_verifies_against_domain_dns_also_after_rotate(self):
        # The launcher made example.test with a key; the message leaves through
        # the relay (with AUTH) signed by OpenDKIM, and the signature verifies
        # against the TXT record `vmail domain dns` prints.
        s = self.server

        def relayed(subject):
            self.submit("someone@example.net", subject)
            message = eventually(lambda: self.sink.message_with(subject))
            self.assertIsNotNone(message, s.log()[-3000:])
            self.assertEqual(message["login"], RELAY_USER)
            data = message["data"].encode()
            self.assertIn(b"DKIM-Signature:", data)
            return data

        def dns():
            return json.loads(s.vmail("--json", "domain", "dns", DOMAIN, check=0).stdout)["records"]

        first = [k["selector"] for k in json.loads(s.vmail("--json", "domain", "dkim", DOMAIN, check=0).stdout)
                 if k["state"] == "active"]
        self.assertEqual(len(first), 1)
        result = verify_dkim(relayed(token()), dns())
        self.assertEqual(result, {"ok": True, "selector": first[0], "domain": DOMAIN})

        s.vmail("domain", "dkim", DOMAIN, "--rotate", "--selector", "rotated1", check=0)
        self.assertTrue(eventually(lambda: "opendkim: KeyTable or SigningTable changed; reloading it" in s.log()))
        names = [r["name"] for r in dns() if "._domainkey." in r["name"]]
        self.assertEqual(sorted(names), sorted([f"{first[0]}._domainkey.{DOMAIN}.", f"rotated1._domainkey.{DOMAIN}."]))
        # OpenDKIM re-reads its tables on the reload; a message in flight may
        # still carry the old selector, so wait for the first with the new one.
        def signed_with_new():
            r = verify_dkim(relayed(token()), dns())
            return r if r["selector"] == "rotated1" else None
        result = eventually(signed_with_new, timeout=30, step=1)
        self.assertEqual(result, {"ok": True, "selector": "rotated1", "domain": DOMAIN})

    def test_local_mail_stays_local(self):
        t = token()
        self.submit(BOB, t)
        self.server.wait_for_message(BOB, t)
        self.assertIsNone(self.sink.message_with(t))

    def test_wrong_relay_password_defers_and_a_new_password_after_sighup_delivers(self):
        self.sink.write_password("wrong-" + RELAY_PASSWORD)
        try:
            self.reconfigure()
            t = token()
            queue_id = self.submit("someone@example.net", t)
            self.assertTrue(eventually(lambda: self.in_queue(queue_id, "deferred")), self.server.log()[-3000:])
            log = self.server.log()
            self.assertIn("SASL authentication failed", log)
            self.assertNotIn(f"{queue_id}: to=<someone@example.net>, relay=127.0.0.1[127.0.0.1]:{self.sink.port}, "
                             "status=bounced", log)
            self.assertNotRegex(log, rf"{queue_id}: .*status=bounced")
            self.assertIsNone(self.sink.message_with(t))
        finally:
            self.sink.write_password(RELAY_PASSWORD)
            self.reconfigure()
        subprocess.run(["postqueue", "-c", self.server.postfix_dir, "-f"], check=True, timeout=60)
        self.assertIsNotNone(eventually(lambda: self.sink.message_with(t)), self.server.log()[-3000:])
        # No bounce ever reached the sender.
        self.assertFalse(any(b"Undelivered Mail" in m for m in self.server.messages(ALICE)))

    def test_password_map_is_0600_and_the_password_is_shown_nowhere(self):
        map_file = os.path.join(self.server.postfix_dir, "relay_passwords")
        for path in (map_file, map_file + ".db"):
            st = os.stat(path)
            self.assertEqual(stat.S_IMODE(st.st_mode), 0o600, path)
            self.assertEqual(st.st_uid, 0, path)
        with open(map_file) as f:
            self.assertEqual(f.read(), f"[127.0.0.1]:{self.sink.port} {RELAY_USER}:{RELAY_PASSWORD}\n")
        with open(os.path.join(self.server.postfix_dir, "main.cf")) as f:
            main_cf = f.read()
        self.assertIn(f"\nrelayhost = [127.0.0.1]:{self.sink.port}\n", main_cf)
        self.assertIn("\nsmtp_tls_security_level = encrypt\n", main_cf)
        self.assertIn("\nsmtp_tls_CAfile = \n", main_cf)
        # The opt-out is said at each start.
        self.assertIn("warning: VMAIL_RELAY_TLS=encrypt: the relay's certificate is not verified", self.server.log())
        for name, text in (("main.cf", main_cf), ("launcher.log", self.server.log())):
            self.assertNotIn(RELAY_PASSWORD, text, name)
        for pid in processes_under(self.server.root):
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    self.assertNotIn(RELAY_PASSWORD.encode(), f.read(), pid)
            except FileNotFoundError:
                pass
        # --configure-only on another root with the same settings prints nothing secret either.
        other = Server(extra_env=self.extra_env)
        try:
            p = other.launch("--configure-only")
            self.assertEqual(p.returncode, 0, p.stderr)
            self.assertIn("relay_passwords", p.stdout + p.stderr)
            self.assertNotIn(RELAY_PASSWORD, p.stdout + p.stderr)
            other_map = os.path.join(other.postfix_dir, "relay_passwords")
            self.assertEqual(stat.S_IMODE(os.stat(other_map).st_mode), 0o600)
            # Without the relay settings: direct delivery, and the map (with
            # the password) does not linger.
            for name in ("VMAIL_RELAY_HOST", "VMAIL_RELAY_USER", "VMAIL_RELAY_PASSWORD_FILE", "VMAIL_RELAY_TLS"):
                del other.env[name]
            p = other.launch("--configure-only")
            self.assertEqual(p.returncode, 0, p.stderr)
            self.assertFalse(os.path.exists(other_map))
            self.assertFalse(os.path.exists(other_map + ".db"))
            with open(os.path.join(other.postfix_dir, "main.cf")) as f:
                direct = f.read()
            self.assertIn("\nrelayhost = \n", direct)
            self.assertIn("\nsmtp_tls_security_level = dane\n", direct)
            self.assertIn("\nsmtp_sasl_auth_enable = no\n", direct)
        finally:
            other.cleanup()


# RelayTest's tests, not repeated by the classes below (each starts its own server).
INHERITED = [name for name in dir(RelayTest) if name.startswith("test_")]


def only_own_tests(cls):
    for name in INHERITED:
        if name not in cls.__dict__:
            setattr(cls, name, None)
    return cls


class DeferredRelayAssertions:
    def assert_deferred_and_no_password_sent(self):
        t = token()
        queue_id = self.submit("someone@example.net", t)
        self.assertTrue(eventually(lambda: self.in_queue(queue_id, "deferred")), self.server.log()[-3000:])
        log = self.server.log()
        self.assertIn("certificate verification failed", log)
        self.assertRegex(log, rf"{queue_id}: .*status=deferred \(Server certificate not verified\)")
        self.assertNotRegex(log, rf"{queue_id}: .*status=bounced")
        self.assertIsNone(self.sink.message_with(t))
        self.assertEqual([e for e in self.sink.events() if e["event"] == "auth"], [], "no password sent")


@only_own_tests
class VerifiedRelayTest(DeferredRelayAssertions, RelayTest):
    """VMAIL_RELAY_CA_FILE names the CAs to trust: a relay whose certificate
    does not chain to them gets nothing; the mail is deferred, not bounced."""

    @classmethod
    def relay_env(cls):
        cls.ca_file, _ = relay_cert(cls.sink.dir, "another-ca")
        return {**cls.unverified_relay_env(), "VMAIL_RELAY_CA_FILE": cls.ca_file}

    def test_a_certificate_from_another_ca_is_refused_and_the_mail_deferred(self):
        with open(os.path.join(self.server.postfix_dir, "main.cf")) as f:
            main_cf = f.read()
        self.assertIn("\nsmtp_tls_security_level = secure\n", main_cf)
        self.assertIn(f"\nsmtp_tls_CAfile = {self.ca_file}\n", main_cf)
        self.assert_deferred_and_no_password_sent()


@only_own_tests
class SystemCaRelayTest(DeferredRelayAssertions, RelayTest):
    """Without VMAIL_RELAY_CA_FILE the relay's certificate is checked against
    the system CAs: the sink's self-signed certificate fails, so an impostor
    on the path never gets the relay password."""

    @classmethod
    def relay_env(cls):
        return cls.unverified_relay_env()

    def test_a_self_signed_relay_without_ca_file_is_refused_and_gets_no_password(self):
        with open(os.path.join(self.server.postfix_dir, "main.cf")) as f:
            main_cf = f.read()
        self.assertIn("\nsmtp_tls_security_level = secure\n", main_cf)
        self.assertRegex(main_cf, r"\nsmtp_tls_CAfile = /\S+\n")
        self.assert_deferred_and_no_password_sent()


if __name__ == "__main__":
    import unittest
    unittest.main()
