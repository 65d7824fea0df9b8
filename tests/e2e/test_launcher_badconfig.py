"""Bad configuration: one clear line on stderr, exit 78 (non-zero for a port
in use), and nothing left running (issue 4, "Must show" 8). Also
`--configure-only` on a good configuration."""

import os
import shutil
import socket
import subprocess
import unittest

from server import LAUNCH, Server


def make_cert(dirname, name, cn="mail.example.test"):
    key = os.path.join(dirname, f"{name}.key")
    cert = os.path.join(dirname, f"{name}.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert,
                    "-days", "2", "-subj", f"/CN={cn}"], check=True, capture_output=True, timeout=60)
    return cert, key


class BadConfigTest(unittest.TestCase):
    def setUp(self):
        self.server = Server()
        self.addCleanup(self.server.cleanup)

    def assert_refused(self, p, needle, code=78):
        lines = [line for line in p.stderr.splitlines() if line.strip()]
        if code is None:
            self.assertNotEqual(p.returncode, 0, p.stderr)
        else:
            self.assertEqual(p.returncode, code, p.stderr)
        self.assertEqual(len(lines), 1, p.stderr)
        self.assertIn(needle, lines[0])
        self.assertEqual(self.server.leftovers(), [])

    def test_missing_mail_domain(self):
        del self.server.env["MAIL_DOMAIN"]
        p = self.server.launch()
        self.assert_refused(p, "MAIL_DOMAIN")

    def test_bad_mail_domain(self):
        self.server.env["MAIL_DOMAIN"] = "not a domain"
        self.assert_refused(self.server.launch(), "MAIL_DOMAIN")

    def test_uid_zero(self):
        self.server.env["VMAIL_UID"] = "0"
        self.assert_refused(self.server.launch(), "VMAIL_UID")

    def test_key_not_matching_certificate(self):
        cert, _ = make_cert(self.server.root, "one")
        _, other_key = make_cert(self.server.root, "two")
        self.server.env.update({"SSL_CERT_FILE": cert, "SSL_KEY_FILE": other_key})
        p = self.server.launch()
        self.assert_refused(p, "does not match")
        self.assertIn("SSL_KEY_FILE", p.stderr)

    def test_launcher_without_vmail_auth_wait_beside_it(self):
        # dovecot.conf names vmail-auth-wait beside vmail-launch (a lookup
        # that misses waits for the next second); doveconf does not check it.
        alone = os.path.join(self.server.root, "alone")
        os.mkdir(alone)
        shutil.copy2(LAUNCH, alone)
        p = subprocess.run([os.path.join(alone, "vmail-launch"), "--configure-only"], env=self.server.env,
                           capture_output=True, text=True, timeout=120)
        self.assertEqual(p.returncode, 78, p.stderr)
        errors = [line for line in p.stderr.splitlines() if "error" in line]
        self.assertEqual(len(errors), 1, p.stderr)
        self.assertIn(os.path.join(alone, "vmail-auth-wait") + ": No such file or directory", errors[0])
        self.assertEqual(self.server.leftovers(), [])

    def test_missing_certificate(self):
        _, key = make_cert(self.server.root, "one")
        self.server.env.update({"SSL_CERT_FILE": self.server.path("nope.pem"), "SSL_KEY_FILE": key})
        self.assert_refused(self.server.launch(), "SSL_CERT_FILE")

    def test_unreadable_certificate(self):
        _, key = make_cert(self.server.root, "one")
        garbage = self.server.path("garbage.pem")
        with open(garbage, "w") as f:
            f.write("this is not a certificate\n")
        self.server.env.update({"SSL_CERT_FILE": garbage, "SSL_KEY_FILE": key})
        self.assert_refused(self.server.launch(), "not a PEM certificate")

    def test_port_in_use(self):
        with socket.socket() as busy:
            busy.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            busy.bind(("127.0.0.1", self.server.ports["imaps"]))
            busy.listen(1)
            p = self.server.launch()
        self.assert_refused(p, "VMAIL_IMAPS_PORT", code=None)
        self.assertIn("in use", p.stderr)

    def test_bad_relay_settings(self):
        secret = "relay-secret-never-shown"
        good = self.server.path("relay.pw")
        with open(good, "w") as f:
            f.write(secret + "\n")
        two_lines = self.server.path("two-lines.pw")
        with open(two_lines, "w") as f:
            f.write(secret + "\nsecond line\n")
        host = {"VMAIL_RELAY_HOST": "relay.example.net:587"}
        cases = [
            ({"VMAIL_RELAY_HOST": "relay.example.net:0"}, "VMAIL_RELAY_HOST"),
            ({"VMAIL_RELAY_HOST": "relay.example.net:99999"}, "VMAIL_RELAY_HOST"),
            ({"VMAIL_RELAY_HOST": "relay.example.net"}, "VMAIL_RELAY_HOST"),
            ({**host, "VMAIL_RELAY_USER": "u", "VMAIL_RELAY_PASSWORD_FILE": self.server.path("missing.pw")},
             "VMAIL_RELAY_PASSWORD_FILE"),
            ({**host, "VMAIL_RELAY_USER": "u"}, "VMAIL_RELAY_PASSWORD_FILE"),
            ({**host, "VMAIL_RELAY_PASSWORD_FILE": good}, "VMAIL_RELAY_USER"),
            ({**host, "VMAIL_RELAY_USER": "u", "VMAIL_RELAY_PASSWORD_FILE": two_lines}, "one line"),
            ({"VMAIL_RELAY_USER": "u", "VMAIL_RELAY_PASSWORD_FILE": good}, "without VMAIL_RELAY_HOST"),
        ]
        base = dict(self.server.env)
        for extra, needle in cases:
            with self.subTest(extra=extra):
                self.server.env = {**base, **extra}
                p = self.server.launch()
                self.assert_refused(p, needle)
                self.assertNotIn(secret, p.stdout + p.stderr)

    def test_open_relay_mynetworks_is_refused_and_nothing_starts(self):
        # SPEC "Mail policy": a VMAIL_MYNETWORKS that lets every client relay
        # is an open relay. So is one that covers a large part of the
        # Internet: IPv4 shorter than /8, IPv6 shorter than /16 (outside fc00::/7).
        cases = ["0.0.0.0/0", "[::]/0", "[::0]/0", "127.0.0.1/32 0.0.0.0/0", "0.0.0.0/1 128.0.0.0/1",
                 "1.2.3.4/0", "10.0.0.0/7", "[2000::]/3", "[::1]/128,[2001:db8::]/15"]
        base = dict(self.server.env)

        def refused(value, *args):
            self.server.env = {**base, "VMAIL_MYNETWORKS": value}
            p = self.server.launch(*args)
            self.assert_refused(p, "VMAIL_MYNETWORKS")
            self.assertIn("open relay", p.stderr)
            # Nothing rendered, no database: the settings stop it first.
            self.assertFalse(os.path.exists(os.path.join(self.server.postfix_dir, "main.cf")))
            self.assertFalse(os.path.exists(self.server.path("data/state/vmail.db")))

        # --configure-only renders everything a start would, without daemons.
        for value in cases:
            with self.subTest(value=value):
                refused(value, "--configure-only")
        refused("0.0.0.0/0")
        # Narrow enough: configured.
        self.server.env = {**base, "VMAIL_MYNETWORKS": "10.0.0.0/8 [fd00::]/8 [2001:db8::]/32 192.168.0.0/16"}
        p = self.server.launch("--configure-only")
        self.assertEqual(p.returncode, 0, p.stderr)

    def test_bad_relay_tls_settings(self):
        ca, _ = make_cert(self.server.root, "relay-ca")
        host = {"VMAIL_RELAY_HOST": "relay.example.net:587"}
        cases = [
            ({**host, "VMAIL_RELAY_TLS": "may"}, "VMAIL_RELAY_TLS"),
            ({**host, "VMAIL_RELAY_TLS": "none"}, "VMAIL_RELAY_TLS"),
            ({**host, "VMAIL_RELAY_TLS": "encrypt", "VMAIL_RELAY_CA_FILE": ca}, "VMAIL_RELAY_CA_FILE"),
            ({"VMAIL_RELAY_TLS": "encrypt"}, "without VMAIL_RELAY_HOST"),
        ]
        base = dict(self.server.env)
        for extra, needle in cases:
            with self.subTest(extra=extra):
                self.server.env = {**base, **extra}
                p = self.server.launch("--configure-only")
                self.assert_refused(p, needle)
                self.assertIn("VMAIL_RELAY_TLS", p.stderr)

    def test_given_certificate_is_installed_with_seed_permissions(self):
        cert, key = make_cert(self.server.root, "real")
        self.server.env.update({"SSL_CERT_FILE": cert, "SSL_KEY_FILE": key})
        p = self.server.launch("--configure-only")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertNotIn("self-signed", p.stderr)
        installed = self.server.path("etc/ssl/certs/mail")
        st = os.stat(os.path.join(installed, "privkey.pem"))
        self.assertEqual(st.st_mode & 0o777, 0o640)
        self.assertEqual(st.st_uid, 0)
        import grp
        self.assertEqual(grp.getgrgid(st.st_gid).gr_name, "dovecot")
        for name in ("cert.pem", "fullchain.pem"):
            self.assertEqual(os.stat(os.path.join(installed, name)).st_mode & 0o777, 0o644)
        with open(cert) as a, open(os.path.join(installed, "cert.pem")) as b:
            self.assertEqual(a.read(), b.read())

    def test_configure_only_prepares_everything_and_starts_nothing(self):
        p = self.server.launch("--configure-only")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("self-signed", p.stderr)  # the warning when no certificate is given
        for rel in ("etc/postfix/main.cf", "etc/postfix/master.cf", "etc/dovecot/dovecot.conf",
                    "etc/dovecot/conf.d/10-ssl.conf", "etc/dovecot/users", "etc/postfix/vdomains",
                    "data/state/dh.pem", "etc/ssl/certs/mail/fullchain.pem"):
            self.assertTrue(os.path.exists(self.server.path(rel)), rel)
        self.assertIn("example.test", self.server.vmail("domain", "list", check=0).stdout)
        self.assertEqual(self.server.leftovers(), [])
        # The rendered configs pass the daemons' own checks.
        subprocess.run(["postfix", "-c", self.server.postfix_dir, "check"], check=True, timeout=60)
        subprocess.run(["doveconf", "-c", self.server.dovecot_conf, "-n"], check=True, timeout=60,
                       capture_output=True)
        # The CLI now exports where the server reads, even with a bare environment.
        env = {"PATH": self.server.env["PATH"], "VMAIL_DB": self.server.path("data/state/vmail.db")}
        from harness import VMAIL
        subprocess.run([VMAIL, "user", "add", "eve@example.test", "--password-stdin"], input="eve-password-1\n",
                       env=env, text=True, check=True, timeout=60, capture_output=True)
        with open(self.server.path("etc/dovecot/users")) as f:
            self.assertIn("eve@example.test", f.read())


if __name__ == "__main__":
    unittest.main()
