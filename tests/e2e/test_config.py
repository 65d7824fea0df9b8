"""`vmail config` and the one settings table (issue 24 item 1): every
setting with its value and source (default, environment, flag, database),
`-n`, `--json`, no secret shown, a bad value one line and exit 78, nothing
created; the flags the table gave VMAIL_EXPORT_LOCK_TIMEOUT,
VMAIL_CERT_CHECK_INTERVAL and VMAIL_DB_PASSWORD_FILE work. The real vmail
and vmail-launch; no daemon is started."""

import json
import os
import sqlite3
import subprocess
import unittest

from harness import VMAIL, InstanceTestCase
from server import LAUNCH


def parse(text):
    """`NAME = VALUE # source` lines as {NAME: (VALUE, source)}."""
    out = {}
    for line in text.splitlines():
        left, source = line.rsplit(" # ", 1)
        name, value = left.split(" =", 1)
        out[name] = (value.strip(), source)
    return out


class Config(InstanceTestCase):
    def test_without_a_database_defaults_environment_and_flags(self):
        p = self.inst.vmail("--map-type", "lmdb", "config", env={"VMAIL_UID": "6000"}, check=66)
        got = parse(p.stdout)
        root = self.inst.root
        self.assertEqual(got["VMAIL_ROOT"], (root, "environment"))
        self.assertEqual(got["VMAIL_MAP_TYPE"], ("lmdb", "flag"))
        self.assertEqual(got["VMAIL_UID"], ("6000", "environment"))
        self.assertEqual(got["VMAIL_GID"], ("5000", "default"))
        self.assertEqual(got["VMAIL_DB"], (root + "/data/state/vmail.db", "default"))
        self.assertEqual(got["VMAIL_POSTFIX_DIR"], (root + "/etc/postfix", "default"))
        self.assertEqual(got["VMAIL_SMTP_PORT"], ("25", "default"))
        self.assertEqual(got["VMAIL_RELAY_HOST"], ("", "default"))
        self.assertEqual(got["VMAIL_EXPORT_LOCK_TIMEOUT"], ("30", "default"))
        # Read-only: nothing is created, not even the state folder; a missing
        # database is exit 66 as for every read command, after the settings.
        self.assertFalse(os.path.exists(os.path.join(root, "data")))
        self.assertEqual(p.returncode, 66, p.stderr)
        self.assertEqual(p.stderr.strip().splitlines(),
                         [f"vmail: {root}/data/state/vmail.db: no such database (`vmail db migrate` creates it); "
                          "the values above are flags, environment and defaults"])

        only = parse(self.inst.vmail("config", "-n", "--map-type", "cdb", env={"VMAIL_UID": "6000"}, check=66).stdout)
        self.assertEqual(only, {"VMAIL_ROOT": (root, "environment"), "VMAIL_UID": ("6000", "environment"),
                                "VMAIL_MAP_TYPE": ("cdb", "flag")})

    def test_json(self):
        p = self.inst.vmail("config", "--json", "--export-lock-timeout", "2.5", env={"VMAIL_LISTEN": "127.0.0.1"},
                            check=66)
        got = json.loads(p.stdout)
        self.assertEqual(got["VMAIL_EXPORT_LOCK_TIMEOUT"], {"value": "2.5", "source": "flag"})
        self.assertEqual(got["VMAIL_LISTEN"], {"value": "127.0.0.1", "source": "environment"})
        self.assertEqual(got["VMAIL_RELAY_HOST"], {"value": None, "source": "default"})
        self.assertEqual(got["MAIL_DOMAIN"], {"value": None, "source": "default"})
        self.assertIn("VMAIL_CERT_CHECK_INTERVAL", got)
        only = json.loads(self.inst.vmail("config", "-n", "--json", check=66).stdout)
        self.assertEqual(list(only), ["VMAIL_ROOT"])

    def test_recorded_settings_come_from_the_database_unchanged(self):
        self.inst.vmail("domain", "add", "example.com", check=0)
        with sqlite3.connect(self.inst.db) as db:
            db.executemany("INSERT INTO settings (name, value) VALUES (?, ?)",
                           [("VMAIL_POSTFIX_DIR", "/srv/postfix"), ("VMAIL_SMTP_PORT", "2525"),
                            ("MAIL_SERVER_NAME", "mx.example.com")])
        db.close()
        with open(self.inst.db, "rb") as f:
            before = f.read()
        got = parse(self.inst.vmail("config", check=0).stdout)
        self.assertEqual(got["VMAIL_POSTFIX_DIR"], ("/srv/postfix", "database"))
        self.assertEqual(got["VMAIL_SMTP_PORT"], ("2525", "database"))
        self.assertEqual(got["MAIL_SERVER_NAME"], ("mx.example.com", "database"))
        # The environment beats the recorded value.
        got = parse(self.inst.vmail("config", env={"VMAIL_POSTFIX_DIR": "/etc/pf"}, check=0).stdout)
        self.assertEqual(got["VMAIL_POSTFIX_DIR"], ("/etc/pf", "environment"))
        with open(self.inst.db, "rb") as f:
            self.assertEqual(f.read(), before)

    def test_no_secret_is_shown_and_no_password_file_read(self):
        secret_file = os.path.join(self.inst.root, "relay-password")
        with open(secret_file, "w") as f:
            f.write("hunter2-very-secret\n")
        os.chmod(secret_file, 0)  # never read: vmail config would fail on it if it tried (not as root)
        env = {"VMAIL_RELAY_HOST": "smtp.example.net:587", "VMAIL_RELAY_USER": "me",
               "VMAIL_RELAY_PASSWORD_FILE": secret_file, "VMAIL_DB_PASSWORD_FILE": secret_file}
        for args in (["config"], ["config", "--json"]):
            p = self.inst.vmail(*args, env=env, check=66)
            self.assertNotIn("hunter2", p.stdout + p.stderr)
        got = parse(self.inst.vmail("config", env=env, check=66).stdout)
        self.assertEqual(got["VMAIL_RELAY_PASSWORD_FILE"], (secret_file, "environment"))

    def test_bad_values_are_one_line_and_78(self):
        for args, env, name in [
            (["config"], {"VMAIL_UID": "0"}, "VMAIL_UID"),
            (["--map-type", "btree", "config"], {}, "VMAIL_MAP_TYPE"),
            (["config"], {"VMAIL_SMTP_PORT": "70000"}, "VMAIL_SMTP_PORT"),
            (["config"], {"VMAIL_CERT_CHECK_INTERVAL": "0"}, "VMAIL_CERT_CHECK_INTERVAL"),
            (["config", "--export-lock-timeout", "soon"], {}, "VMAIL_EXPORT_LOCK_TIMEOUT"),
            (["config"], {"VMAIL_RELAY_TLS": "maybe"}, "VMAIL_RELAY_TLS"),
            (["config"], {"VMAIL_DB": "mysql://u:pw@h/db"}, "VMAIL_DB"),
        ]:
            p = self.inst.vmail(*args, env=env)
            self.assertEqual(p.returncode, 78, (args, env, p.stderr))
            lines = p.stderr.strip().splitlines()
            self.assertEqual(len(lines), 1, p.stderr)
            self.assertTrue(lines[0].startswith("vmail: " + name), lines[0])
            self.assertEqual(p.stdout, "")
        self.assertFalse(os.path.exists(os.path.join(self.inst.root, "data")))


class NewFlags(InstanceTestCase):
    def test_help_lists_every_setting_of_each_program(self):
        vmail_help = self.inst.vmail("--help", check=0).stdout
        for flag in ("--db-password-file", "--export-lock-timeout", "--dkim-user", "--map-type"):
            self.assertIn(flag, vmail_help)
        self.assertNotIn("--relay-host", vmail_help)
        self.assertIn("config", vmail_help)
        launch_help = subprocess.run([LAUNCH, "--help"], capture_output=True, text=True, timeout=60).stdout
        for flag in ("--cert-check-interval", "--export-lock-timeout", "--db-password-file", "--queue-dir",
                     "--relay-host", "--smtp-port", "--map-type"):
            self.assertIn(flag, launch_help)
        health_help = self.inst.vmail("health", "--help", check=0).stdout
        self.assertIn("--listen", health_help)
        self.assertIn("--quota-status-port", health_help)

    def test_cert_check_interval_flag_is_checked_by_the_launcher(self):
        env = dict(self.inst.env, MAIL_DOMAIN="example.com")
        p = subprocess.run([LAUNCH, "--cert-check-interval", "0"], env=env, capture_output=True, text=True,
                           timeout=60)
        self.assertEqual(p.returncode, 78, p.stderr)
        lines = p.stderr.strip().splitlines()
        self.assertEqual(lines, ["vmail-launch: VMAIL_CERT_CHECK_INTERVAL \"0\": must be 1-3600 s"])
        self.assertFalse(os.path.exists(os.path.join(self.inst.root, "data")))

    def test_export_lock_timeout_flag_reaches_the_export(self):
        self.inst.vmail("domain", "add", "example.com", check=0)
        lock_path = self.inst.db + ".export-lock"
        holder = subprocess.Popen(
            ["python3", "-c", "import fcntl,sys,time\n"
             "f=open(sys.argv[1],'a'); fcntl.flock(f, fcntl.LOCK_EX); print('held', flush=True); time.sleep(60)",
             lock_path], stdout=subprocess.PIPE, text=True)
        self.addCleanup(holder.stdout.close)
        self.addCleanup(holder.wait)
        self.addCleanup(holder.kill)
        self.assertEqual(holder.stdout.readline().strip(), "held")
        p = self.inst.vmail("--export-lock-timeout", "0.2", "export", env={"VMAIL_EXPORT_LOCK_TIMEOUT": "600"})
        self.assertEqual(p.returncode, 75, p.stderr)
        self.assertIn("after 0.2 s", p.stderr)

    def test_db_password_file_flag_is_a_setting(self):
        got = parse(self.inst.vmail("--db-password-file", "pw.txt", "config", check=66).stdout)
        self.assertEqual(got["VMAIL_DB_PASSWORD_FILE"], (os.path.join(os.getcwd(), "pw.txt"), "flag"))


if __name__ == "__main__":
    unittest.main()
