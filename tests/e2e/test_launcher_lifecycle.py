"""The launcher as PID 1 would run it: `vmail health` up and down, a killed
Dovecot master comes back, SIGTERM stops everything with exit 0, and a second
start on the same VMAIL_ROOT keeps users, aliases, passwords and messages;
SIGHUP re-renders and reloads (issue 4, "Must show" 6 and 7)."""

import json
import os
import signal
import time
import unittest

from server import DOMAIN, SERVICES, Server

ALICE = f"alice@{DOMAIN}"


class HealthTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = Server()
        try:
            cls.server.start()
        except BaseException:
            cls.server.cleanup()
            raise

    @classmethod
    def tearDownClass(cls):
        cls.server.cleanup()

    def test_healthy_json_shape(self):
        p = self.server.vmail("health", "--json", check=0)
        doc = json.loads(p.stdout)
        self.assertEqual(doc["status"], "healthy")
        self.assertEqual(list(doc["services"]), SERVICES + ["opendkim", "vmail-milter"])
        sockets = {"opendkim": "run/opendkim/opendkim.sock", "vmail-milter": "run/vmail-milter/milter.sock"}
        for name, svc in doc["services"].items():
            self.assertEqual(svc["status"], "healthy", name)
            if name in sockets:
                self.assertEqual(svc["socket"], self.server.path(sockets[name]))
            else:
                self.assertEqual(svc["port"], self.server.ports[name])
            self.assertIsInstance(svc["ms"], int)
            self.assertNotIn("error", svc)

    def test_spam_off_starts_no_spam_daemons(self):
        # server.py sets VMAIL_SPAM=off: no rspamd, Redis or postgrey runs
        # for this root, none is rendered, and health lists none (above).
        names = set()
        for pid in self.server.leftovers():
            try:
                with open(f"/proc/{pid}/comm") as f:
                    names.add(f.read().strip())
            except OSError:
                pass
        self.assertTrue(names)
        for daemon in ("rspamd", "redis-server", "postgrey"):
            self.assertFalse(any(n.startswith(daemon) for n in names), names)
        self.assertFalse(os.path.exists(self.server.path("etc/rspamd")))

    def test_health_uses_recorded_ports_without_environment(self):
        # An admin shell with only VMAIL_ROOT: the launcher recorded where it listens.
        env = {k: v for k, v in self.server.env.items() if not k.endswith("_PORT") and k != "VMAIL_LISTEN"}
        import subprocess
        from harness import VMAIL
        p = subprocess.run([VMAIL, "health"], env=env, capture_output=True, text=True, timeout=60)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)

    def test_unhealthy_with_postfix_stopped(self):
        s = self.server
        import subprocess
        # Freeze the launcher so it does not restart Postfix while we look.
        os.kill(s.proc.pid, signal.SIGSTOP)
        try:
            subprocess.run(["postfix", "-c", s.postfix_dir, "stop"], capture_output=True, timeout=60, check=True)
            p = s.vmail("health", "--json", "--timeout", "3")
            self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
            doc = json.loads(p.stdout)
            self.assertEqual(doc["status"], "unhealthy")
            for name in ("smtp", "submission", "smtps"):
                self.assertEqual(doc["services"][name]["status"], "unhealthy")
                self.assertIn("error", doc["services"][name])
            for name in ("imap", "imaps", "pop3", "pop3s"):
                self.assertEqual(doc["services"][name]["status"], "healthy")
            plain = s.vmail("health")
            self.assertEqual(plain.returncode, 1)
            self.assertIn("unhealthy", plain.stdout)
        finally:
            os.kill(s.proc.pid, signal.SIGCONT)
        # The launcher notices Postfix is gone and starts it again.
        s.wait_healthy(timeout=30)
        self.assertIn("postfix started", s.log())


class LifecycleTest(unittest.TestCase):
    def setUp(self):
        self.server = Server()
        self.addCleanup(self.server.cleanup)

    def test_kill_restart_stop_and_second_start_keeps_everything(self):
        s = self.server
        s.start()
        s.add_user(ALICE, "alice-password-1")
        s.vmail("alias", "add", f"info@{DOMAIN}", ALICE, check=0)
        s.send("x@example.net", [ALICE], "kept-message")
        s.wait_for_message(ALICE, "kept-message")

        # kill -9 of Dovecot's master: the launcher restarts it and it serves again.
        old = s.daemon_pid("dovecot")
        killed_at = time.monotonic()
        os.kill(old, signal.SIGKILL)
        waited = s.wait_healthy(timeout=30)
        back_after = time.monotonic() - killed_at
        self.assertLess(back_after, 10, f"serving again only after {back_after:.1f} s")
        self.assertNotEqual(s.daemon_pid("dovecot"), old)
        self.assertGreaterEqual(waited, 0)
        imap = s.imaps()
        imap.login(ALICE, "alice-password-1")
        imap.logout()

        # SIGTERM: both daemons stop gracefully, exit 0, within 30 s, nothing left.
        rc, took = s.stop()
        self.assertEqual(rc, 0, s.log()[-3000:])
        self.assertLess(took, 30)
        self.assertEqual(s.leftovers(), [], s.log()[-3000:])
        for port in s.ports.values():
            import socket
            with self.assertRaises(ConnectionRefusedError):
                socket.create_connection(("127.0.0.1", port), timeout=5).close()

        # Second start on the same root (new ports): everything is still there.
        again = Server(root=s.root)
        self.addCleanup(again.cleanup)
        again.start()
        imap = again.imaps()
        imap.login(ALICE, "alice-password-1")
        imap.select("INBOX", readonly=True)
        typ, data = imap.search(None, "SUBJECT", "kept-message")
        self.assertEqual(len(data[0].split()), 1)
        imap.logout()
        again.send("x@example.net", [f"info@{DOMAIN}"], "alias-after-restart")
        again.wait_for_message(ALICE, "alias-after-restart")
        users = again.vmail("user", "list", "--json" if False else DOMAIN, check=0).stdout
        self.assertIn(ALICE, users)

    def test_sighup_rerenders_and_reloads(self):
        s = self.server
        s.start()
        main_cf = s.path("etc/postfix/main.cf")
        with open(main_cf, "a") as f:
            f.write("# local edit that a reload must undo\n")
        s.add_user(ALICE, "alice-password-1")
        users = s.path("etc/dovecot/users")
        os.remove(users)  # a re-export must bring it back
        s.proc.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and "reloaded" not in s.log():
            time.sleep(0.2)
        self.assertIn("reloaded", s.log())
        with open(main_cf) as f:
            self.assertNotIn("local edit", f.read())
        self.assertTrue(os.path.exists(users))
        s.wait_healthy(timeout=30)
        self.assertIn("postfix/master", s.log())
        imap = s.imaps()
        imap.login(ALICE, "alice-password-1")
        imap.logout()

    def test_gives_up_when_a_daemon_keeps_dying(self):
        s = self.server
        s.start()
        # Kill Dovecot's master each time it comes back: the 5th death within
        # 60 s makes the launcher stop Postfix too and exit non-zero.
        deadline = time.monotonic() + 60
        last = None
        while s.proc.poll() is None and time.monotonic() < deadline:
            try:
                pid = s.daemon_pid("dovecot")
                if pid != last:
                    os.kill(pid, signal.SIGKILL)
                    last = pid
            except (FileNotFoundError, ProcessLookupError, ValueError, IndexError):
                pass
            time.sleep(0.05)
        rc = s.proc.wait(40)
        self.assertNotEqual(rc, 0)
        self.assertIn("giving up", s.log())
        time.sleep(0.5)
        self.assertEqual(s.leftovers(), [], s.log()[-3000:])


if __name__ == "__main__":
    unittest.main()
