"""Certificates renewed in place are picked up without a signal (SPEC
"Deployment on volumes"): within VMAIL_CERT_CHECK_INTERVAL the new
certificate's serial is served on SMTPS, submission (STARTTLS), IMAPS and
POP3S; a mismatched pair is refused with one log line while the old pair keeps
serving; an IMAP session opened before the change still answers after it.
Run with the host's build and in the container image."""

import imaplib
import os
import poplib
import shutil
import smtplib
import socket
import ssl
import subprocess
import tempfile
import time
import unittest

from server import DOMAIN, Server, tls_context

INTERVAL = 2
SERIAL_A, SERIAL_B, SERIAL_C = "0A11CE01", "0B0B0B02", "0C0C0C03"


def make_pair(folder, serial):
    """A self-signed certificate with `serial` (hex) and its key in `folder`."""
    os.makedirs(folder, exist_ok=True)
    key, cert = os.path.join(folder, "k.pem"), os.path.join(folder, "c.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert,
                    "-days", "30", "-subj", f"/CN=mail.{DOMAIN}", "-set_serial", "0x" + serial],
                   check=True, capture_output=True)
    with open(key) as k, open(cert) as c:
        return k.read(), c.read()


def install(folder, key=None, cert=None):
    """Writes the source files the way a renewal client does: one at a time."""
    for name, text in (("cert.pem", cert), ("fullchain.pem", cert), ("privkey.pem", key)):
        if text is None:
            continue
        tmp = os.path.join(folder, name + ".new")
        with open(tmp, "w") as f:
            f.write(text)
        os.chmod(tmp, 0o600)
        os.replace(tmp, os.path.join(folder, name))


def serial_of(der):
    p = subprocess.run(["openssl", "x509", "-inform", "DER", "-noout", "-serial"], input=der, capture_output=True,
                       check=True)
    return p.stdout.decode().strip().split("=", 1)[1].upper().lstrip("0")


def served_serials(ports):
    out = {}
    ctx = tls_context()
    for service in ("smtps", "imaps", "pop3s"):
        with socket.create_connection(("127.0.0.1", ports[service]), timeout=10) as raw:
            with ctx.wrap_socket(raw, server_hostname=f"mail.{DOMAIN}") as s:
                out[service] = serial_of(s.getpeercert(binary_form=True))
    with smtplib.SMTP("127.0.0.1", ports["submission"], timeout=10) as s:
        s.starttls(context=ctx)
        out["submission"] = serial_of(s.sock.getpeercert(binary_form=True))
    return out


def wait_serial(ports, serial, timeout):
    want = serial.lstrip("0")
    start = time.monotonic()
    seen = None
    while time.monotonic() - start < timeout:
        seen = served_serials(ports)
        if all(v == want for v in seen.values()):
            return time.monotonic() - start
        time.sleep(0.3)
    raise AssertionError(f"serial {want} not served everywhere after {timeout} s: {seen}")


class Renewal:
    """Needs self.node (ports, log()) and self.sources (the source folder)."""

    def run_renewal(self):
        node, sources = self.node, self.sources
        key_a, cert_a = self.pair_a
        wait_serial(node.ports, SERIAL_A, 10)
        # Established sessions outlive the reload.
        imap = imaplib.IMAP4_SSL("127.0.0.1", node.ports["imaps"], ssl_context=tls_context(), timeout=30)
        pop = poplib.POP3_SSL("127.0.0.1", node.ports["pop3s"], context=tls_context(), timeout=30)
        try:
            # A certificate whose key is not the one beside it: refused, A keeps serving.
            _, cert_c = make_pair(os.path.join(self.work, "c"), SERIAL_C)
            install(sources, cert=cert_c)
            deadline = time.monotonic() + 4 * INTERVAL + 10
            while "daemons keep their configuration" not in node.log() and time.monotonic() < deadline:
                time.sleep(0.3)
            self.assertIn("daemons keep their configuration", node.log())
            self.assertIn("does not", node.log().split("daemons keep their configuration", 1)[1][:400])
            self.assertEqual(set(served_serials(node.ports).values()), {SERIAL_A.lstrip("0")})
            # The renewed pair, written file by file: served within the interval.
            key_b, cert_b = make_pair(os.path.join(self.work, "b"), SERIAL_B)
            install(sources, key=key_b, cert=cert_b)
            took = wait_serial(node.ports, SERIAL_B, 3 * INTERVAL + 15)
            self.assertLess(took, 3 * INTERVAL + 15)
            self.assertEqual(imap.noop()[0], "OK")
            self.assertIn("USER", pop.capa())
        finally:
            try:
                imap.logout()
            except Exception:
                pass
            try:
                pop.quit()
            except Exception:
                pass


class HostRenewalTest(Renewal, unittest.TestCase):
    def test_renewed_certificate_is_served_without_a_signal(self):
        self.work = tempfile.mkdtemp(prefix="vmail-certs-")
        server = Server(extra_env={"VMAIL_CERT_CHECK_INTERVAL": str(INTERVAL)})
        try:
            self.sources = server.path("data/state/certificates", DOMAIN)
            os.makedirs(self.sources)
            self.pair_a = make_pair(os.path.join(self.work, "a"), SERIAL_A)
            install(self.sources, key=self.pair_a[0], cert=self.pair_a[1])
            server.start()
            self.node = server
            self.run_renewal()
        finally:
            server.cleanup()
            shutil.rmtree(self.work, ignore_errors=True)


@unittest.skipUnless(os.environ.get("VMAIL_IMAGE_TESTS", "1") != "0", "VMAIL_IMAGE_TESTS=0")
class ImageRenewalTest(Renewal, unittest.TestCase):
    def test_renewed_certificate_is_served_without_a_signal(self):
        from container import Container, build_image

        build_image()
        self.work = tempfile.mkdtemp(prefix="vmail-certs-")
        volumes = tempfile.mkdtemp(prefix="vmail-volumes-")
        os.chmod(volumes, 0o755)
        c = Container(volumes, extra_env={"VMAIL_CERT_CHECK_INTERVAL": str(INTERVAL)})
        try:
            self.sources = os.path.join(c.data, "state", "certificates", DOMAIN)
            os.makedirs(self.sources)
            self.pair_a = make_pair(os.path.join(self.work, "a"), SERIAL_A)
            install(self.sources, key=self.pair_a[0], cert=self.pair_a[1])
            c.start()
            self.node = c
            self.run_renewal()
        finally:
            c.cleanup()
            shutil.rmtree(self.work, ignore_errors=True)
            shutil.rmtree(volumes, ignore_errors=True)


if __name__ == "__main__":
    unittest.main()
