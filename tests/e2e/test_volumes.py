"""Persistent-volume deployment (SPEC "Deployment on volumes"): everything that
must survive lives on the two volumes. A message queued for a remote domain and
one accepted while LMTP delivery was unavailable are both on the state volume
when the server is thrown away; a new server on the same volumes delivers the
inbound one, keeps the outbound one queued, and has every user, alias and
password unchanged. Run twice: with the host's build under a VMAIL_ROOT whose
every folder but the two volumes is removed, and in the container image
(re-created from the image with buildah). The image also gets the upgrade
test: a volume written at migration 0001 started by the new image."""

import email.message
import imaplib
import json
import os
import shutil
import smtplib
import socket
import sqlite3
import subprocess
import tempfile
import time
import unittest

from harness import SOURCE_DIR
from server import DOMAIN, Server, tls_context

ALICE = f"alice@{DOMAIN}"
BOB = f"bob@{DOMAIN}"
PASSWORDS = {ALICE: "alice-password-1", BOB: "bob-password-22"}
# Every DNS name is NXDOMAIN here, which Postfix bounces at once; an address
# literal on a closed loopback port is deferred ("connection refused") instead.
REMOTE = "someone@[127.0.0.3]"


def port25_closed(host="127.0.0.3"):
    with socket.socket() as s:
        s.settimeout(1)
        return s.connect_ex((host, 25)) != 0


def message(sender, recipient, subject):
    msg = email.message.EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = sender, recipient, subject
    msg.set_content("kept across re-creation\n")
    return msg


class Scenario:
    """What a node must offer: `ports`, `vmail(*args)`, `shell(*cmd)` (a
    command in the server's environment), `postfix_dir` as the server sees it."""

    def queue_ids(self, node):
        p = node.shell("postqueue", "-c", node.postfix_dir, "-j")
        return [json.loads(line) for line in p.stdout.splitlines() if line.strip()]

    def wait_queue(self, node, predicate, what, timeout=30):
        start = time.monotonic()
        while time.monotonic() - start < timeout:
            queue = self.queue_ids(node)
            if predicate(queue):
                return queue
            time.sleep(0.5)
        self.fail(f"queue never {what}: {self.queue_ids(node)}")

    def populate(self, node):
        for address, password in PASSWORDS.items():
            node.vmail("user", "add", address, "--password-stdin", input=password + "\n", check=0)
        node.vmail("alias", "add", f"postmaster@{DOMAIN}", ALICE, check=0)

    def state(self, node):
        users = json.loads(node.vmail("--json", "user", "list", check=0).stdout)
        aliases = json.loads(node.vmail("--json", "alias", "list", check=0).stdout)
        for u in users:
            u.pop("updated", None)
        return users, aliases

    def queue_two_messages(self, node):
        """An outbound message deferred for a remote domain and an inbound one
        accepted while LMTP delivery is unavailable."""
        self.assertTrue(port25_closed(), "something listens on 127.0.0.3:25; the deferred message would leave")
        with smtplib.SMTP("127.0.0.1", node.ports["submission"], timeout=30) as s:
            s.starttls(context=tls_context())
            s.login(ALICE, PASSWORDS[ALICE])
            s.send_message(message(ALICE, REMOTE, "outbound-kept"), to_addrs=[REMOTE])
        # LMTP unavailable: Postfix keeps local deliveries in its queue.
        node.shell("postconf", "-c", node.postfix_dir, "-e", "defer_transports = lmtp", check=0)
        node.shell("postfix", "-c", node.postfix_dir, "reload", check=0)
        time.sleep(1)
        with smtplib.SMTP("127.0.0.1", node.ports["smtp"], timeout=30) as s:
            s.send_message(message("friend@example.org", BOB, "inbound-kept"), to_addrs=[BOB])
        return self.wait_queue(node, lambda q: len(q) == 2 and all(m["queue_name"] == "deferred" for m in q),
                               "held both messages as deferred")

    def check_after(self, node, before):
        self.assertEqual(self.state(node), before)
        # No `postqueue -f` here: the launcher retries the queue after the start.
        queue = self.wait_queue(node, lambda q: len(q) == 1, "delivered the inbound message", timeout=60)
        self.assertEqual([r["address"] for r in queue[0]["recipients"]], [REMOTE])
        for address, password in PASSWORDS.items():
            c = imaplib.IMAP4_SSL("127.0.0.1", node.ports["imaps"], ssl_context=tls_context(), timeout=30)
            try:
                c.login(address, password)
                c.select("INBOX")
                _, found = c.search(None, "SUBJECT", "inbound-kept")
                self.assertEqual(len(found[0].split()), 1 if address == BOB else 0, address)
            finally:
                c.logout()


class HostNode:
    """The host's build under a VMAIL_ROOT (the deployment without containers)."""

    def __init__(self, server):
        self.server = server
        self.ports = server.ports
        self.postfix_dir = server.postfix_dir

    def vmail(self, *args, input=None, check=None):
        return self.server.vmail(*args, input=input, check=check)

    def shell(self, *cmd, check=None):
        p = subprocess.run(list(cmd), capture_output=True, text=True, timeout=60)
        if check is not None and p.returncode != check:
            raise AssertionError(f"{' '.join(cmd)}: exit {p.returncode}\n{p.stdout}{p.stderr}")
        return p


class HostRecreationTest(Scenario, unittest.TestCase):
    def queued_then_stopped(self, server):
        """Starts SERVER, adds the users, queues the two messages, stops it
        cleanly; returns the users and aliases seen before the stop."""
        server.start()
        node = HostNode(server)
        self.populate(node)
        before = self.state(node)
        self.queue_two_messages(node)
        rc, _ = server.stop()
        self.assertEqual(rc, 0, server.log()[-3000:])
        return before

    def test_recreation_keeps_users_mail_and_queue(self):
        server = Server()
        try:
            before = self.queued_then_stopped(server)
            self.assertEqual(server.leftovers(), [])
            # Throw away everything but the two volumes.
            for name in os.listdir(server.root):
                if name not in ("data", "var"):
                    p = os.path.join(server.root, name)
                    shutil.rmtree(p) if os.path.isdir(p) and not os.path.islink(p) else os.unlink(p)
            for name in os.listdir(server.path("var")):
                if name != "mail":
                    shutil.rmtree(server.path("var", name))
            # A new image may number the postfix user differently.
            for sub in ("deferred", "defer", "active"):
                for dirpath, dirs, files in os.walk(server.queue_path(sub)):
                    for n in [dirpath] + [os.path.join(dirpath, f) for f in files]:
                        os.lchown(n, 4242, 4242)
            server.start()
            self.assertIn("ownership repaired", server.log())
            self.check_after(HostNode(server), before)
        finally:
            server.cleanup()

    def test_queue_of_an_earlier_version_is_delivered(self):
        """Before the queue moved to the state volume it lived at
        $VMAIL_ROOT/var/spool/postfix: an upgraded host install delivers what
        it held."""
        server = Server()
        try:
            before = self.queued_then_stopped(server)
            legacy = server.path("var", "spool", "postfix")
            shutil.rmtree(legacy, ignore_errors=True)
            os.makedirs(os.path.dirname(legacy), exist_ok=True)
            os.rename(server.queue_path(), legacy)
            server.start()
            self.assertIn("queued mail of an earlier version moved", server.log())
            self.check_after(HostNode(server), before)
        finally:
            server.cleanup()


def image_wanted():
    return os.environ.get("VMAIL_IMAGE_TESTS", "1") != "0"


@unittest.skipUnless(image_wanted(), "VMAIL_IMAGE_TESTS=0")
class ImageTest(Scenario, unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        from container import build_image
        build_image()

    def setUp(self):
        self.volumes = tempfile.mkdtemp(prefix="vmail-volumes-")
        os.chmod(self.volumes, 0o755)
        self.containers = []

    def tearDown(self):
        for c in self.containers:
            c.cleanup()
        shutil.rmtree(self.volumes, ignore_errors=True)

    def container(self, **kw):
        from container import Container

        c = Container(self.volumes, **kw)
        c.postfix_dir = "/etc/postfix"
        c.shell = c.exec  # postconf, postfix, postqueue of the image, in the running container
        self.containers.append(c)
        return c

    def test_recreation_keeps_users_mail_and_queue(self):
        first = self.container().start()
        self.populate(first)
        before = self.state(first)
        self.queue_two_messages(first)
        self.assertEqual(first.stop(), 0, first.log()[-3000:])
        first.remove()
        second = self.container(ports=first.ports).start()
        self.check_after(second, before)

    def test_upgrade_from_migration_0001(self):
        """A volume written by the first schema version, with mail in it: the
        new image backs the database up, migrates it, and every user logs in
        and finds their mail."""
        state = os.path.join(self.volumes, "data", "state")
        os.makedirs(state)
        db = sqlite3.connect(os.path.join(state, "vmail.db"))
        with open(os.path.join(SOURCE_DIR, "migrations", "0001_initial.sql")) as f:
            db.executescript(f.read())
        db.execute("PRAGMA user_version = 1")
        hashes = {}
        for address, password in PASSWORDS.items():
            p = subprocess.run(["doveadm", "pw", "-s", "SHA512-CRYPT", "-p", password], capture_output=True,
                               text=True, check=True)
            hashes[address] = p.stdout.strip()
        db.execute("INSERT INTO domains(name) VALUES (?)", (DOMAIN,))
        dom = db.execute("SELECT id FROM domains").fetchone()[0]
        for address in PASSWORDS:
            db.execute("INSERT INTO users(domain_id, local, address, password) VALUES (?, ?, ?, ?)",
                       (dom, address.split("@")[0], address, hashes[address]))
        db.commit()
        db.close()
        for address in PASSWORDS:
            local = address.split("@")[0]
            new = os.path.join(self.volumes, "mail", DOMAIN, local, "Maildir", "new")
            for sub in ("cur", "tmp"):
                os.makedirs(os.path.join(os.path.dirname(new), sub), exist_ok=True)
            os.makedirs(new, exist_ok=True)
            with open(os.path.join(new, f"1700000000.M1P1.old-{local}"), "wb") as f:
                f.write(f"From: old@example.org\r\nTo: {address}\r\nSubject: from-0001-{local}\r\n\r\nold\r\n".encode())
        subprocess.run(["chown", "-R", "5000:5000", os.path.join(self.volumes, "mail")], check=True)
        c = self.container().start()
        backups = os.listdir(os.path.join(state, "backups"))
        self.assertEqual(len(backups), 1, backups)
        migrated = sqlite3.connect(os.path.join(state, "vmail.db"))
        self.assertGreater(migrated.execute("PRAGMA user_version").fetchone()[0], 1)
        # The domain predates DKIM keys: the first start gave it one, on /data.
        selectors = migrated.execute(
            "SELECT k.selector FROM dkim_keys k JOIN domains d ON d.id = k.domain_id "
            "WHERE d.name = ? AND k.algorithm = 'rsa' AND k.state = 'active'", (DOMAIN,)).fetchall()
        migrated.close()
        self.assertEqual(len(selectors), 1)
        self.assertTrue(os.path.isfile(os.path.join(state, "dkim", DOMAIN, selectors[0][0] + ".private")))
        for address, password in PASSWORDS.items():
            imap = imaplib.IMAP4_SSL("127.0.0.1", c.ports["imaps"], ssl_context=tls_context(), timeout=30)
            try:
                imap.login(address, password)
                imap.select("INBOX")
                _, found = imap.search(None, "SUBJECT", f"from-0001-{address.split('@')[0]}")
                self.assertEqual(len(found[0].split()), 1, address)
            finally:
                imap.logout()


if __name__ == "__main__":
    unittest.main()
