"""The install step the Dockerfile runs (`cmake --install --strip`), into a
temp prefix: the programs and the NSS module land where the image copies
them from, and the installed vmail works without the source or build tree
(migrations and templates are embedded)."""

import glob
import os
import shutil
import subprocess
import tempfile
import unittest

from harness import BUILD_DIR, SOURCE_DIR


class Install(unittest.TestCase):
    def test_install_tree_is_self_contained(self):
        prefix = tempfile.mkdtemp(prefix="vmail-install-")
        self.addCleanup(shutil.rmtree, prefix, True)
        subprocess.run(["cmake", "--install", BUILD_DIR, "--prefix", prefix, "--strip"], check=True,
                       capture_output=True, timeout=300)
        vmail = os.path.join(prefix, "sbin", "vmail")
        launch = os.path.join(prefix, "sbin", "vmail-launch")
        # vmail-launch starts vmail-milter from its own folder.
        milter = os.path.join(prefix, "sbin", "vmail-milter")
        # Dovecot's auth runs vmail-auth-wait (the path dovecot.conf names is beside vmail-launch).
        auth_wait = os.path.join(prefix, "sbin", "vmail-auth-wait")
        for program in (vmail, launch, milter, auth_wait):
            self.assertTrue(os.access(program, os.X_OK), program)
        # vmail-launch preloads it into OpenDKIM from ../lib/vmail.
        self.assertTrue(os.path.exists(os.path.join(prefix, "lib", "vmail", "libvmail-stderr-syslog.so")))
        modules = glob.glob(os.path.join(prefix, "lib", "*", "libnss_vmail.so.2"))
        self.assertEqual(len(modules), 1, os.listdir(os.path.join(prefix, "lib")))

        root = tempfile.mkdtemp(prefix="vmail-installed-root-")
        self.addCleanup(shutil.rmtree, root, True)
        env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "VMAIL_ROOT": root}

        def run(*args):
            return subprocess.run(list(args), env=env, cwd=root, capture_output=True, text=True, timeout=120)

        p = run(vmail, "db", "migrate")
        self.assertEqual(p.returncode, 0, p.stderr)
        p = run(vmail, "db", "status")
        self.assertIn("0 pending", p.stdout)
        p = run(vmail, "domain", "add", "example.com")
        self.assertEqual(p.returncode, 0, p.stderr)
        # The launcher renders its embedded templates and checks them with the
        # real postfix and doveconf, without starting anything.
        p = run(launch, "--configure-only", "--mail-domain", "example.com", "--listen", "127.0.0.1")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertTrue(os.path.exists(os.path.join(root, "etc", "postfix", "main.cf")))
        with open(os.path.join(root, "etc", "dovecot", "dovecot.conf")) as f:
            self.assertIn(f"args = {auth_wait}\n", f.read())
        p = run(milter, "--help")
        self.assertEqual(p.returncode, 0, p.stderr)

    def test_systemd_unit_verifies(self):
        """deploy/vmail.service, pointed at the installed vmail-launch, is clean
        for systemd-analyze verify."""
        if shutil.which("systemd-analyze") is None:
            self.skipTest("systemd-analyze not installed")
        prefix = tempfile.mkdtemp(prefix="vmail-unit-")
        self.addCleanup(shutil.rmtree, prefix, True)
        with open(os.path.join(SOURCE_DIR, "deploy", "vmail.service")) as f:
            unit = f.read()
        self.assertIn("ExecStart=/usr/local/sbin/vmail-launch", unit)
        launch = os.path.abspath(os.path.join(BUILD_DIR, "vmail-launch"))
        path = os.path.join(prefix, "vmail.service")
        with open(path, "w") as f:
            f.write(unit.replace("/usr/local/sbin/vmail-launch", launch))
        p = subprocess.run(["systemd-analyze", "verify", path], capture_output=True, text=True, timeout=120)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertNotIn("vmail.service", p.stderr)


if __name__ == "__main__":
    unittest.main()
