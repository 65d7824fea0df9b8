"""End-to-end tests of DKIM keys and DNS records (issue 13, store/CLI side):
the real vmail against a real database under a private VMAIL_ROOT, key files
checked with OpenSSL and a signature made with the private key file verified
by python3-dkim against the TXT record `vmail domain dns` prints. No daemon."""

import json
import os
import re
import sqlite3
import stat
import subprocess
import time
import unittest

from harness import InstanceTestCase

# python3-dkim is a Debian package: run it with Debian's interpreter, whatever
# interpreter runs this test.
DEBIAN_PYTHON = "/usr/bin/python3"

SIGN_AND_VERIFY = r"""
import sys, dkim
key_file, selector, domain, txt, tamper = sys.argv[1:6]
msg = (b"From: a@" + domain.encode() + b"\r\nTo: b@example.net\r\nSubject: hi\r\n"
       b"Message-ID: <1@" + domain.encode() + b">\r\n\r\nhello\r\n")
with open(key_file, "rb") as f:
    key = f.read()
sig = dkim.sign(msg, selector.encode(), domain.encode(), key, include_headers=[b"from", b"to", b"subject"])
signed = sig + msg
if tamper == "1":
    signed = signed.replace(b"hello", b"hullo")
def dnsfunc(name, timeout=5):
    want = selector + "._domainkey." + domain + "."
    return txt.encode() if name.decode() == want else None
print("pass" if dkim.verify(signed, dnsfunc=dnsfunc) else "fail")
"""


class DkimKeys(InstanceTestCase):
    def dkim_dir(self, domain):
        return os.path.join(self.inst.root, "data/state/dkim", domain)

    def keys(self, domain):
        out = self.inst.vmail("--json", "domain", "dkim", domain, check=0).stdout
        return json.loads(out)

    def dns(self, domain):
        p = self.inst.vmail("--json", "domain", "dns", domain, check=0)
        return json.loads(p.stdout)

    def opendkim_file(self, name):
        with open(os.path.join(self.inst.root, "etc/opendkim", name)) as f:
            return f.read()

    def dkim_txt(self, domain, selector):
        records = self.dns(domain)["records"]
        name = f"{selector}._domainkey.{domain}."
        found = [r for r in records if r["name"] == name]
        self.assertEqual(len(found), 1, records)
        self.assertEqual("".join(found[0]["strings"]), found[0]["value"])
        self.assertTrue(all(len(s.encode()) <= 255 for s in found[0]["strings"]))
        return found[0]["value"]

    def sign_and_verify(self, domain, selector, tamper=False):
        key_file = os.path.join(self.dkim_dir(domain), selector + ".private")
        p = subprocess.run([DEBIAN_PYTHON, "-c", SIGN_AND_VERIFY, key_file, selector, domain,
                            self.dkim_txt(domain, selector), "1" if tamper else "0"],
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(p.returncode, 0, p.stderr)
        return p.stdout.strip()

    def test_domain_add_creates_a_private_rsa_key(self):
        self.inst.vmail("domain", "add", "example.com", check=0)
        keys = self.keys("example.com")
        self.assertEqual(len(keys), 1)
        today = time.strftime("s%Y%m%d", time.gmtime())
        self.assertEqual(keys[0]["selector"], today)
        self.assertEqual(keys[0]["algorithm"], "rsa")
        self.assertEqual(keys[0]["state"], "active")
        path = os.path.join(self.dkim_dir("example.com"), today + ".private")
        st = os.stat(path)
        self.assertEqual(stat.S_IMODE(st.st_mode), 0o600)
        self.assertEqual(stat.S_IMODE(os.stat(self.dkim_dir("example.com")).st_mode), 0o700)
        with open(path) as f:
            self.assertTrue(f.read().startswith("-----BEGIN PRIVATE KEY-----\n"))
        # The p= value is the key `openssl pkey -pubout` derives from the file.
        pub = subprocess.run(["openssl", "pkey", "-in", path, "-pubout"], capture_output=True, text=True,
                             check=True).stdout
        b64 = "".join(l for l in pub.splitlines() if not l.startswith("-----"))
        self.assertEqual(self.dkim_txt("example.com", today), "v=DKIM1; k=rsa; p=" + b64)
        self.assertEqual(self.sign_and_verify("example.com", today), "pass")
        self.assertEqual(self.sign_and_verify("example.com", today, tamper=True), "fail")

    def test_alias_domain_gets_its_own_key(self):
        self.inst.vmail("domain", "add", "example.com", check=0)
        self.inst.vmail("domain", "alias", "add", "example.net", "example.com", check=0)
        keys = self.keys("example.net")
        self.assertEqual([k["algorithm"] for k in keys], ["rsa"])
        self.assertEqual(self.sign_and_verify("example.net", keys[0]["selector"]), "pass")

    def test_rotate_lists_both_and_signs_with_the_new(self):
        v = self.inst.vmail
        v("domain", "add", "example.com", check=0)
        old = self.keys("example.com")[0]["selector"]
        v("domain", "dkim", "example.com", "--rotate", check=0)
        keys = self.keys("example.com")
        self.assertEqual([(k["selector"], k["state"]) for k in keys], [(old, "retired"), (old + "-2", "active")])
        # Both public records listed, each verifies a signature of its key.
        for selector in (old, old + "-2"):
            self.assertEqual(self.sign_and_verify("example.com", selector), "pass")
        self.assertEqual(self.opendkim_file("KeyTable"),
                         f"{old}-2._domainkey.example.com example.com:{old}-2:"
                         f"{self.dkim_dir('example.com')}/{old}-2.private\n")
        self.assertEqual(self.opendkim_file("SigningTable"), f"*@example.com {old}-2._domainkey.example.com\n")
        # A given selector; then the retired key removed, file and record.
        v("domain", "dkim", "example.com", "--rotate", "--selector", "Winter", check=0)
        self.assertEqual(self.keys("example.com")[-1]["selector"], "winter")
        v("domain", "dkim", "example.com", "--remove", old, check=0)
        self.assertFalse(os.path.exists(os.path.join(self.dkim_dir("example.com"), old + ".private")))
        names = [r["name"] for r in self.dns("example.com")["records"]]
        self.assertNotIn(f"{old}._domainkey.example.com.", names)
        self.assertIn(f"{old}-2._domainkey.example.com.", names)
        # The active rsa key cannot go.
        p = v("domain", "dkim", "example.com", "--remove", "winter", check=65)
        self.assertIn("selector \"winter\": the active rsa key", p.stderr)
        v("export", "--check", check=0)

    def test_ed25519_key_beside_rsa(self):
        v = self.inst.vmail
        v("domain", "add", "example.com", check=0)
        rsa = self.keys("example.com")[0]["selector"]
        v("domain", "dkim", "example.com", "--algorithm", "ed25519", "--selector", "ed", check=0)
        keys = self.keys("example.com")
        self.assertEqual([(k["selector"], k["algorithm"], k["state"]) for k in keys],
                         [("ed", "ed25519", "active"), (rsa, "rsa", "active")])
        self.assertRegex(self.dkim_txt("example.com", "ed"), r"^v=DKIM1; k=ed25519; p=[A-Za-z0-9+/]{43}=$")
        self.assertEqual(self.opendkim_file("SigningTable"),
                         f"*@example.com ed._domainkey.example.com\n*@example.com {rsa}._domainkey.example.com\n")
        # A second ed25519 key needs --rotate.
        v("domain", "dkim", "example.com", "--algorithm", "ed25519", check=65)

    def test_bad_input_is_refused_and_changes_nothing(self):
        v = self.inst.vmail
        v("domain", "add", "example.com", check=0)
        before = self.inst.dump_db()
        files_before = sorted(os.listdir(self.dkim_dir("example.com")))
        for args, field in [
            (["--rotate", "--selector", "bad_sel"], "--selector"),
            (["--rotate", "--selector", "-a"], "--selector"),
            (["--rotate", "--selector", "a" * 64], "--selector"),
            (["--rotate", "--selector", "a.b"], "--selector"),
            (["--rotate", "--selector", "../../etc"], "--selector"),
            (["--rotate", "--algorithm", "dsa"], "--algorithm"),
            (["--selector", "fine"], "--selector"),
            (["--remove", "x y"], "--remove"),
        ]:
            p = v("domain", "dkim", "example.com", *args, check=65)
            self.assertEqual(len(p.stderr.strip().splitlines()), 1, p.stderr)
            self.assertIn(field, p.stderr)
        # The selector the domain has already.
        selector = self.keys("example.com")[0]["selector"]
        v("domain", "dkim", "example.com", "--rotate", "--selector", selector, check=65)
        self.assertEqual(self.inst.dump_db(), before)
        self.assertEqual(sorted(os.listdir(self.dkim_dir("example.com"))), files_before)

    def test_unknown_domain(self):
        # A database to look in: without one, showing is 66 (test_cli).
        self.inst.vmail("db", "migrate", check=0)
        for cmd in (["domain", "dkim", "nowhere.org"], ["domain", "dns", "nowhere.org"],
                    ["domain", "dkim", "nowhere.org", "--rotate"]):
            p = self.inst.vmail(*cmd, check=67)
            self.assertIn("nowhere.org", p.stderr)

    def test_dns_records_with_recorded_server_name_and_ports(self):
        v = self.inst.vmail
        v("domain", "add", "example.com", check=0)
        p = v("domain", "dns", "example.com", check=0)
        self.assertIn("mail.example.com", p.stderr)  # the default, said on stderr
        lines = p.stdout.splitlines()
        self.assertEqual(lines[0], "example.com. 3600 IN MX 10 mail.example.com.")
        self.assertIn('_dmarc.example.com. 3600 IN TXT "v=DMARC1; p=quarantine; adkim=s; aspf=s; '
                      'rua=mailto:postmaster@example.com"', lines)
        self.assertIn("_submissions._tcp.example.com. 3600 IN SRV 0 1 465 mail.example.com.", lines)
        dkim_line = [l for l in lines if "._domainkey." in l][0]
        self.assertRegex(dkim_line, r'^s\d{8}\._domainkey\.example\.com\. 3600 IN TXT "[^"]{255}" "[^"]+"$')
        # What vmail-launch records (prepare.cc) is used.
        con = sqlite3.connect(self.inst.db)
        with con:
            con.executemany("INSERT OR REPLACE INTO settings (name, value) VALUES (?, ?)",
                            [("MAIL_SERVER_NAME", "mx.example.org"), ("VMAIL_SMTPS_PORT", "10465"),
                             ("VMAIL_SUBMISSION_PORT", "10587"), ("VMAIL_IMAPS_PORT", "10993"),
                             ("VMAIL_POP3S_PORT", "10995")])
        con.close()
        p = v("domain", "dns", "example.com", check=0)
        self.assertEqual(p.stderr, "")
        out = self.dns("example.com")
        self.assertEqual(out["domain"], "example.com")
        by_name = {(r["name"], r["type"]): r for r in out["records"]}
        self.assertEqual(by_name[("example.com.", "MX")],
                         {"name": "example.com.", "type": "MX", "ttl": 3600, "value": "10 mx.example.org.",
                          "strings": None})
        self.assertEqual(by_name[("example.com.", "TXT")]["strings"], ["v=spf1 mx -all"])
        for label, port in [("_submissions", 10465), ("_submission", 10587), ("_imaps", 10993), ("_pop3s", 10995)]:
            self.assertEqual(by_name[(f"{label}._tcp.example.com.", "SRV")]["value"], f"0 1 {port} mx.example.org.")

    def test_tables_follow_domain_del(self):
        v = self.inst.vmail
        v("domain", "add", "example.com", check=0)
        v("domain", "add", "other.org", check=0)
        self.assertEqual(len(self.opendkim_file("KeyTable").splitlines()), 2)
        v("export", "--check", check=0)
        other = self.dkim_dir("other.org")
        self.assertTrue(os.listdir(other))
        v("domain", "del", "other.org", check=0)
        self.assertNotIn("other.org", self.opendkim_file("KeyTable"))
        self.assertNotIn("other.org", self.opendkim_file("SigningTable"))
        self.assertFalse(os.path.exists(other))  # its private keys are gone too
        for name in ("KeyTable", "SigningTable"):
            st = os.stat(os.path.join(self.inst.root, "etc/opendkim", name))
            self.assertEqual(stat.S_IMODE(st.st_mode), 0o644)
        v("export", "--check", check=0)
        # A table edited by hand is named by export --check and put back by export.
        with open(os.path.join(self.inst.root, "etc/opendkim", "SigningTable"), "a") as f:
            f.write("*@evil.org x._domainkey.evil.org\n")
        p = v("export", "--check")
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("SigningTable", p.stdout + p.stderr)
        v("export", check=0)
        v("export", "--check", check=0)


if __name__ == "__main__":
    unittest.main()
