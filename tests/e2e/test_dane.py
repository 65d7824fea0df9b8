"""Outbound DANE (SPEC "Mail policy"; issue 25 item 4): with VMAIL_DANE=on the
launcher runs unbound as a validating resolver and Postfix's outbound TLS is
`dane`. A destination whose DNSSEC-signed TLSA record matches the MX's
certificate gets the mail over verified TLS; one whose TLSA record does not
match keeps it deferred.

DANE needs DNS answers with the AD bit, from the resolver /etc/resolv.conf
names on port 53. So the whole module runs in private network and mount
namespaces (`unshare`): its own loopback, where the launcher's unbound may
take 127.0.0.1:53, and its own /etc/resolv.conf bind-mounted over the
machine's, which nothing outside sees. The zone `dane.test` is signed here
(ldns-signzone) and served by the launcher's own unbound as an auth zone
(VMAIL_RESOLVER_CONF), with its key as the trust anchor:

    good.dane.test  MX mx-good.dane.test  A 127.0.0.2  TLSA 3 1 1 <the sink's key>
    bad.dane.test   MX mx-bad.dane.test   A 127.0.0.2  TLSA 3 1 1 <another key>

The sink is an SMTP server with STARTTLS on 127.0.0.2:25 (relay_sink.py
without AUTH)."""

import os
import subprocess
import sys

if os.environ.get("VMAIL_TEST_NETNS") != "1":
    # Re-run this test process inside its own namespaces (see above).
    os.environ["VMAIL_TEST_NETNS"] = "1"
    os.execvp("unshare", ["unshare", "--net", "--mount", "--propagation", "private",
                          sys.executable, "-m", "unittest", *sys.argv[1:]])

# Inside: the namespace's loopback starts down.
subprocess.run(["ip", "link", "set", "lo", "up"], check=True)

import json
import shutil
import tempfile
import time
import unittest

from server import Server

HERE = os.path.dirname(os.path.abspath(__file__))
SINK_ADDRESS = "127.0.0.2"


def run(*argv, **kwargs):
    return subprocess.run(argv, check=True, capture_output=True, text=True, **kwargs)


def spki_sha256(cert):
    """The TLSA 3 1 1 value of a certificate: SHA-256 of its public key."""
    pub = run("openssl", "x509", "-in", cert, "-noout", "-pubkey").stdout
    der = subprocess.run(["openssl", "pkey", "-pubin", "-outform", "DER"], input=pub.encode(), check=True,
                         capture_output=True).stdout
    return subprocess.run(["sha256sum"], input=der, check=True, capture_output=True).stdout.split()[0].decode()


def signed_zone(folder, good_hash, bad_hash):
    """Writes and signs dane.test; returns (signed zone file, trust anchor file)."""
    zone = os.path.join(folder, "dane.test.zone")
    with open(zone, "w", encoding="utf-8") as f:
        f.write(f"""$ORIGIN dane.test.
$TTL 300
@ IN SOA ns.dane.test. hostmaster.dane.test. 1 3600 600 86400 300
@ IN NS ns.dane.test.
ns IN A {SINK_ADDRESS}
good IN MX 10 mx-good.dane.test.
bad IN MX 10 mx-bad.dane.test.
mx-good IN A {SINK_ADDRESS}
mx-bad IN A {SINK_ADDRESS}
_25._tcp.mx-good IN TLSA 3 1 1 {good_hash}
_25._tcp.mx-bad IN TLSA 3 1 1 {bad_hash}
""")
    ksk = run("ldns-keygen", "-a", "ECDSAP256SHA256", "-k", "dane.test", cwd=folder).stdout.strip()
    zsk = run("ldns-keygen", "-a", "ECDSAP256SHA256", "dane.test", cwd=folder).stdout.strip()
    run("ldns-signzone", zone, ksk, zsk, cwd=folder)
    # ldns-keygen -k writes the KSK's DS beside it: the trust anchor.
    return zone + ".signed", os.path.join(folder, ksk + ".ds")


class DaneTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="vmail-dane-")
        os.chmod(cls.dir, 0o755)  # unbound (its own user) reads the zone
        cls.sink = None
        cls.server = None
        try:
            cls._setup()
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def _setup(cls):
        resolv = os.path.join(cls.dir, "resolv.conf")
        with open(resolv, "w", encoding="utf-8") as f:
            # trust-ad: glibc passes the resolver's AD bit on only with it.
            f.write("nameserver 127.0.0.1\noptions trust-ad\n")
        run("mount", "--bind", resolv, "/etc/resolv.conf")

        cert, key = os.path.join(cls.dir, "sink.pem"), os.path.join(cls.dir, "sink.key")
        run("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert, "-days", "2",
            "-subj", "/CN=mx-good.dane.test")
        other = os.path.join(cls.dir, "other.pem")
        run("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", os.path.join(cls.dir, "o.key"),
            "-out", other, "-days", "2", "-subj", "/CN=someone.else")
        zone, anchor = signed_zone(cls.dir, spki_sha256(cert), spki_sha256(other))
        for name in os.listdir(cls.dir):
            os.chmod(os.path.join(cls.dir, name), 0o644)
        conf = os.path.join(cls.dir, "resolver.conf")
        with open(conf, "w", encoding="utf-8") as f:
            f.write(f"""server:
  # .test is one of unbound's built-in empty zones (RFC 6761).
  local-zone: "test." nodefault
  trust-anchor-file: "{anchor}"
auth-zone:
  name: "dane.test"
  zonefile: "{zone}"
  for-downstream: no
  for-upstream: yes
  fallback-enabled: no
""")

        cls.sink_log = os.path.join(cls.dir, "sink.jsonl")
        cls.sink = subprocess.Popen(
            ["/usr/bin/python3", os.path.join(HERE, "relay_sink.py"), "--address", SINK_ADDRESS, "--port", "25",
             "--cert", cert, "--key", key, "--log", cls.sink_log],
            stdout=subprocess.PIPE, text=True)
        assert cls.sink.stdout.readline().strip() == "ready"

        cls.server = Server(extra_env={"VMAIL_RESOLVER_PORT": "53", "VMAIL_RESOLVER_CONF": conf})
        cls.server.start()
        cls.server.add_user("alice@example.test", "dane-password-1")

    @classmethod
    def tearDownClass(cls):
        if cls.server is not None:
            cls.server.cleanup()
        if cls.sink is not None:
            cls.sink.terminate()
            cls.sink.wait(timeout=10)
        subprocess.run(["umount", "/etc/resolv.conf"], capture_output=True)
        shutil.rmtree(cls.dir, ignore_errors=True)

    def sink_messages(self):
        try:
            with open(self.sink_log, encoding="utf-8") as f:
                return [json.loads(line) for line in f]
        except FileNotFoundError:
            return []

    def wait_log(self, needle, timeout=60):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if needle in self.server.log():
                return
            time.sleep(0.2)
        self.fail(f"not in the launcher's log within {timeout} s: {needle!r}\n{self.server.log()[-3000:]}")

    def test_the_resolver_validates_and_health_covers_it(self):
        dig = run("dig", "+dnssec", "@127.0.0.1", "TLSA", "_25._tcp.mx-good.dane.test").stdout
        self.assertRegex(dig, r"flags:[^;]* ad[ ;]", dig)
        health = self.server.health("--json")
        services = json.loads(health.stdout)["services"]
        self.assertIn("resolver", services, health.stdout)
        self.assertIn("mta-sts", services, health.stdout)
        self.assertEqual(health.returncode, 0, health.stdout)
        with open(os.path.join(self.server.postfix_dir, "main.cf"), encoding="utf-8") as f:
            main_cf = f.read()
        self.assertIn("\nsmtp_tls_security_level = dane\n", main_cf)
        self.assertIn("\nsmtp_dns_support_level = dnssec\n", main_cf)

    def test_a_matching_tlsa_record_gets_the_mail_over_verified_tls(self):
        self.server.send("alice@example.test", ["bob@good.dane.test"], "dane good")
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            got = [m for m in self.sink_messages() if "bob@good.dane.test" in m["rcpt_tos"]]
            if got:
                break
            time.sleep(0.2)
        else:
            self.fail("not delivered to the sink:\n" + self.server.log()[-3000:])
        self.assertTrue(got[0]["tls"])
        # "Verified": the certificate matched the DNSSEC-validated TLSA record.
        self.wait_log("Verified TLS connection established to mx-good.dane.test")

    def test_a_tlsa_record_that_does_not_match_defers_the_mail(self):
        self.server.send("alice@example.test", ["carol@bad.dane.test"], "dane bad")
        self.wait_log("to=<carol@bad.dane.test>")
        log = self.server.log()
        line = [l for l in log.splitlines() if "to=<carol@bad.dane.test>" in l][-1]
        # dsn=4.7.5, status=deferred (Server certificate not verified)
        self.assertIn("status=deferred (Server certificate not verified)", line)
        self.assertFalse([m for m in self.sink_messages() if "carol@bad.dane.test" in m["rcpt_tos"]])
        queue = subprocess.run(["postqueue", "-c", self.server.postfix_dir, "-p"], capture_output=True, text=True)
        self.assertIn("carol@bad.dane.test", queue.stdout)


if __name__ == "__main__":
    unittest.main()
