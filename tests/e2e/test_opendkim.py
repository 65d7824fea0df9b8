"""DKIM with the real daemons (issue 13): OpenDKIM runs under the launcher as
a milter for Postfix, verifies inbound mail (Authentication-Results) and
signs mail from authenticated users only (since issue 22, not VMAIL_MYNETWORKS:
a local process must not borrow a hosted domain's key). Public keys come
from a dnsmasq on a free loopback port (VMAIL_DNS_RESOLVER), so nothing
leaves the machine. One server for the whole class."""

import base64
import json
import os
import pwd
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest

try:
    import dkim
except ImportError:
    # A non-Debian python3 first on PATH: Debian's python3-dkim (pure Python,
    # as is its dnspython) is installed for the system interpreter.
    sys.path.append("/usr/lib/python3/dist-packages")
    import dkim

from harness import BUILD_DIR, free_ports
from server import DOMAIN, FOREIGN_SOURCE, Server, tls_context

PASSWORD = "dkim-test-1"
ALICE = f"alice@{DOMAIN}"
SENDER_DOMAIN = "sender.example"  # a foreign domain that signs its mail
SENDER_SELECTOR = "t1"
SERVER_NAME = f"mail.{DOMAIN}"  # AuthservID: the server's host name


def generate_key(folder, name):
    """An RSA-2048 key as OpenDKIM's keys are (PEM, PKCS#8); returns (path,
    PEM bytes, base64 of the DER public key for a p= tag)."""
    path = os.path.join(folder, name + ".private")
    subprocess.run(["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", path],
                   check=True, capture_output=True, timeout=60)
    public = subprocess.run(["openssl", "pkey", "-in", path, "-pubout", "-outform", "DER"], check=True,
                            capture_output=True, timeout=60).stdout
    with open(path, "rb") as f:
        return path, f.read(), base64.b64encode(public).decode()


class Dnsmasq:
    """dnsmasq answering TXT records on 127.0.0.1:PORT, nothing else (no
    upstream, no /etc/hosts)."""

    def __init__(self, records):
        self.port = free_ports(1)[0]
        args = ["dnsmasq", "--keep-in-foreground", "--no-resolv", "--no-hosts", "--conf-file=/dev/null",
                "--pid-file=", f"--port={self.port}", "--listen-address=127.0.0.1", "--bind-interfaces"]
        for name, value in records.items():
            # A TXT value is made of strings of at most 255 bytes each; each
            # comma-separated text is one (unquoted: dnsmasq keeps quotes).
            assert "," not in value
            chunks = [value[i:i + 255] for i in range(0, len(value), 255)]
            args.append(f"--txt-record={name}," + ",".join(chunks))
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
        time.sleep(0.3)
        if self.proc.poll() is not None:
            raise AssertionError(f"dnsmasq exited {self.proc.returncode}: {self.proc.stderr.read().decode()}")

    def stop(self):
        self.proc.kill()
        self.proc.wait()
        self.proc.stderr.close()


def build_message(sender, recipient, subject, body):
    return (f"From: {sender}\r\nTo: {recipient}\r\nSubject: {subject}\r\n"
            f"Message-ID: <{subject}@{sender.split('@')[1]}>\r\n"
            f"Date: Tue, 01 Dec 2026 03:00:00 +0000\r\n\r\n{body}").encode()


def headers_named(message, name):
    """Unfolded values of every header field `name` in a raw message."""
    head = message.split(b"\r\n\r\n", 1)[0] if b"\r\n\r\n" in message else message.split(b"\n\n", 1)[0]
    unfolded = re.sub(rb"\r?\n[ \t]+", b" ", head).decode(errors="replace")
    prefix = name.lower() + ":"
    return [line[len(prefix):].strip() for line in unfolded.splitlines() if line.lower().startswith(prefix)]


def dkim_tags(value):
    return {k.strip(): v.strip() for k, _, v in (t.partition("=") for t in value.split(";")) if k.strip()}


class OpenDkimTest(unittest.TestCase):
    server = None
    dns = None

    @classmethod
    def setUpClass(cls):
        cls.keys = tempfile.mkdtemp(prefix="vmail-dkim-keys-")
        cls.addClassCleanup(shutil.rmtree, cls.keys, ignore_errors=True)
        _, cls.sender_key, sender_public = generate_key(cls.keys, "sender")
        cls.dns = Dnsmasq({f"{SENDER_SELECTOR}._domainkey.{SENDER_DOMAIN}": f"v=DKIM1; k=rsa; p={sender_public}"})
        cls.addClassCleanup(cls.dns.stop)
        # OpenDKIM refuses a key whose folder chain others may write (/tmp):
        # this root lives in the build folder instead.
        root = tempfile.mkdtemp(prefix="vmail-dkim-", dir=os.path.abspath(BUILD_DIR))
        cls.addClassCleanup(shutil.rmtree, root, ignore_errors=True)
        cls.server = Server(root=root, extra_env={"VMAIL_DNS_RESOLVER": f"127.0.0.1:{cls.dns.port}"})
        cls.addClassCleanup(cls.server.cleanup)
        cls.server.start()
        cls.server.add_user(ALICE, PASSWORD)

    # Helpers ------------------------------------------------------------------
    def deliver(self, raw, subject, service="smtp", source=FOREIGN_SOURCE, login=False):
        """Sends `raw` to ALICE and returns the delivered message's bytes."""
        with self.server.smtp(service, source) as s:
            if service == "submission":
                s.starttls(context=tls_context())
            if login:
                s.login(ALICE, PASSWORD)
            s.sendmail(ALICE if login else f"someone@{SENDER_DOMAIN}", [ALICE], raw)
        self.server.wait_for_message(ALICE, subject)
        return next(m for m in self.server.messages(ALICE) if subject.encode() in m)

    def our_results(self, message):
        """Authentication-Results fields added by this server."""
        return [v for v in headers_named(message, "Authentication-Results") if v.startswith(SERVER_NAME + ";")]

    def install_signing_key(self):
        """Stand-in for the exporter until the dkimkeys branch is merged (then:
        `vmail domain add` / `vmail export` write these): a key where the
        contract puts it, and the KeyTable / SigningTable lines for it, each
        replaced by rename as the exporter does. Returns (selector, p=)."""
        selector = "s20261201"
        key_dir = self.server.path("data/state/dkim", DOMAIN)
        os.makedirs(key_dir, mode=0o700, exist_ok=True)
        path, _, public = generate_key(key_dir, selector)
        opendkim = pwd.getpwnam("opendkim")
        for p in (os.path.dirname(key_dir), key_dir, path):
            os.chown(p, opendkim.pw_uid, opendkim.pw_gid)
        os.chmod(path, 0o600)
        tables = self.server.path("etc/opendkim")
        for name, line in (("KeyTable", f"{selector}._domainkey.{DOMAIN} {DOMAIN}:{selector}:{path}\n"),
                           ("SigningTable", f"*@{DOMAIN} {selector}._domainkey.{DOMAIN}\n")):
            with open(os.path.join(tables, name + ".tmp"), "w") as f:
                f.write(line)
            os.chmod(os.path.join(tables, name + ".tmp"), 0o644)
            os.rename(os.path.join(tables, name + ".tmp"), os.path.join(tables, name))
        return selector, public

    def wait_log(self, needle, timeout=10):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if needle in self.server.log():
                return time.monotonic()
            time.sleep(0.1)
        raise AssertionError(f"{needle!r} not in the launcher's log after {timeout} s\n{self.server.log()[-3000:]}")

    def opendkim_pid(self):
        with open(self.server.path("run/opendkim/opendkim.pid")) as f:
            return int(f.read().split()[0])

    # Tests ----------------------------------------------------------------------
    def test_inbound_signed_mail_is_verified(self):
        raw = build_message(f"news@{SENDER_DOMAIN}", ALICE, "dkim-inbound-good", "A signed message.\r\n")
        signed = dkim.sign(raw, SENDER_SELECTOR.encode(), SENDER_DOMAIN.encode(), self.sender_key,
                           canonicalize=(b"relaxed", b"simple")) + raw
        delivered = self.deliver(signed, "dkim-inbound-good")
        results = self.our_results(delivered)
        self.assertEqual(len(results), 1, delivered.decode(errors="replace"))
        self.assertIn("dkim=pass", results[0])
        self.assertIn(f"header.d={SENDER_DOMAIN}", results[0])

    def test_inbound_tampered_body_fails_and_is_still_delivered(self):
        raw = build_message(f"news@{SENDER_DOMAIN}", ALICE, "dkim-inbound-tampered", "The original text.\r\n")
        signed = dkim.sign(raw, SENDER_SELECTOR.encode(), SENDER_DOMAIN.encode(), self.sender_key,
                           canonicalize=(b"relaxed", b"simple")) + raw
        tampered = signed.replace(b"The original text.", b"A different text.")
        delivered = self.deliver(tampered, "dkim-inbound-tampered")
        results = self.our_results(delivered)
        self.assertEqual(len(results), 1, delivered.decode(errors="replace"))
        self.assertIn("dkim=fail", results[0])

    def test_signing_after_tables_change_and_only_for_our_users(self):
        changed_at = time.monotonic()
        selector, public = self.install_signing_key()
        # The launcher notices the new tables within about a second and
        # reloads OpenDKIM alone (SIGUSR1), without a restart.
        seen_at = self.wait_log("opendkim: KeyTable or SigningTable changed; reloading it")
        self.assertLess(seen_at - changed_at, 3)
        pid = self.opendkim_pid()

        def dnsfunc(name, timeout=5):
            self.assertEqual(name.rstrip(b"."), f"{selector}._domainkey.{DOMAIN}".encode())
            return f"v=DKIM1; k=rsa; p={public}".encode()

        def signatures(message):
            return [dkim_tags(v) for v in headers_named(message, "DKIM-Signature")]

        # An authenticated user (submission): signed, and the signature verifies.
        raw = build_message(ALICE, ALICE, "dkim-outbound-auth", "Signed by the server.\r\n")
        delivered = self.deliver(raw, "dkim-outbound-auth", service="submission", source=None, login=True)
        sigs = signatures(delivered)
        self.assertEqual(len(sigs), 1, delivered.decode(errors="replace"))
        self.assertEqual(sigs[0]["d"], DOMAIN)
        self.assertEqual(sigs[0]["s"], selector)
        self.assertEqual(sigs[0]["c"], "relaxed/simple")
        # OversignHeaders From: one more "from" than there are From fields.
        self.assertEqual([h.strip().lower() for h in sigs[0]["h"].split(":")].count("from"), 2)
        self.assertTrue(dkim.verify(delivered, dnsfunc=dnsfunc), delivered.decode(errors="replace"))

        # A client in VMAIL_MYNETWORKS (127.0.0.1), no AUTH: it may relay,
        # but it is not signed (it was before issue 22: InternalHosts).
        raw = build_message(ALICE, ALICE, "dkim-outbound-mynetworks", "From an internal host.\r\n")
        delivered = self.deliver(raw, "dkim-outbound-mynetworks", source="127.0.0.1")
        self.assertEqual(signatures(delivered), [], delivered.decode(errors="replace"))

        # Inbound from a foreign client, even with a From in our domain: not
        # signed (verified instead; unsigned, so no result is added).
        raw = build_message(f"boss@{DOMAIN}", ALICE, "dkim-inbound-unsigned", "Not ours to sign.\r\n")
        delivered = self.deliver(raw, "dkim-inbound-unsigned")
        self.assertEqual(signatures(delivered), [], delivered.decode(errors="replace"))

        self.assertEqual(self.opendkim_pid(), pid, "OpenDKIM was restarted, not reloaded")

    def test_killed_opendkim_is_restarted_and_healthy_again(self):
        s = self.server
        old = self.opendkim_pid()
        # Freeze the launcher so the dead OpenDKIM is seen by `vmail health`.
        os.kill(s.proc.pid, signal.SIGSTOP)
        try:
            os.kill(old, signal.SIGKILL)
            deadline = time.monotonic() + 10
            while True:
                p = s.vmail("health", "--json", "--timeout", "2")
                doc = json.loads(p.stdout)
                if doc["services"]["opendkim"]["status"] == "unhealthy" or time.monotonic() > deadline:
                    break
                time.sleep(0.1)
            self.assertEqual(p.returncode, 1, p.stdout)
            self.assertEqual(doc["services"]["opendkim"]["status"], "unhealthy")
            self.assertIn("error", doc["services"]["opendkim"])
            self.assertEqual(doc["services"]["smtp"]["status"], "healthy")
        finally:
            os.kill(s.proc.pid, signal.SIGCONT)
        killed_at = time.monotonic()
        s.wait_healthy(timeout=30)
        self.assertLess(time.monotonic() - killed_at, 10)
        self.assertNotEqual(self.opendkim_pid(), old)
        self.assertIn("opendkim was killed by signal", s.log())
        # Mail still flows through the new OpenDKIM and is verified.
        raw = build_message(f"news@{SENDER_DOMAIN}", ALICE, "dkim-after-restart", "Still verified.\r\n")
        signed = dkim.sign(raw, SENDER_SELECTOR.encode(), SENDER_DOMAIN.encode(), self.sender_key) + raw
        delivered = self.deliver(signed, "dkim-after-restart")
        self.assertIn("dkim=pass", " ".join(self.our_results(delivered)))


if __name__ == "__main__":
    unittest.main()
