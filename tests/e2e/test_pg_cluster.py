"""Two mail nodes following one PostgreSQL store (issue 14, SPEC "Beyond one
machine"): each node has its own VMAIL_ROOT, ports, Postfix and Dovecot and
a local SQLite replica kept up to date by its follower (`vmail export
--follow`, supervised by the launcher and covered by `vmail health`).

One PgServer and two launcher nodes serve the whole class (starting them is
the slow part). Every wait polls against a deadline."""

import concurrent.futures
import os
import signal
import sqlite3
import subprocess
import time
import unittest

from harness import VMAIL
from pg import PgServer
from server import DOMAIN, Server, imap_login_ok

HASH = "{SHA512-CRYPT}$6$clustersalt$" + "x" * 86
EXISTING = ("existing@" + DOMAIN, "existing password")
WRITERS_PER_NODE = 4
CHANGES = 100
FOLLOW_DEADLINE = 30  # seconds for a change to reach every node


def wait_until(what, predicate, timeout=FOLLOW_DEADLINE, interval=0.1):
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout} s: {what}")
        time.sleep(interval)


def follower_pid(node):
    """The pid of the node's follower (its config file lies under the root)."""
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/cmdline", "rb") as f:
                args = f.read().split(b"\0")
        except OSError:
            continue
        if b"--follow" in args and any(a.startswith(node.root.encode()) for a in args):
            return int(name)
    return None


def mail_services_healthy(node):
    """Every service `vmail health` lists is healthy except the follower
    (unhealthy while the shared store is down)."""
    lines = [line.split() for line in node.health().stdout.splitlines()[:-1]]
    return bool(lines) and all(f[2] == "healthy" for f in lines if f[0] != "follower")


def replica_rows(node, sql):
    """A query on the node's replica as it is (no catch-up, unlike the CLI)."""
    con = sqlite3.connect(f"file:{node.path('data/state/replica.db')}?mode=ro", uri=True, timeout=10)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def writer(node, w):
    """100 changes on distinct objects: user add, quota of that user, an alias
    to it. Returns (expected users {address: quota bytes}, expected aliases
    {source: destination}, retries after a 75)."""
    users, aliases, retries = {}, {}, 0
    for i in range(CHANGES):
        user = f"w{w}u{i // 3}@{DOMAIN}"
        if i % 3 == 0:
            args, users[user] = ["user", "add", user, "--hash", HASH], None
        elif i % 3 == 1:
            args, users[user] = ["user", "quota", user, f"{i}M"], i * 1024 * 1024
        else:
            source = f"w{w}a{i // 3}@{DOMAIN}"
            args, aliases[source] = ["alias", "add", source, user], user
        while True:
            p = subprocess.run([VMAIL, *args], env=node.env, capture_output=True, text=True, timeout=120)
            if p.returncode == 75:
                retries += 1
                continue
            if p.returncode != 0:
                raise AssertionError(f"writer {w}: vmail {' '.join(args)}: exit {p.returncode}: {p.stderr}")
            break
    return users, aliases, retries


class PgClusterTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.pg = PgServer()
        cls.nodes = []
        try:
            env = {"VMAIL_DB": cls.pg.url, "VMAIL_DB_PASSWORD_FILE": cls.pg.password_file}
            cls.a, cls.b = Server(extra_env=env), Server(extra_env=env)
            cls.nodes = [cls.a, cls.b]
            cls.a.vmail("domain", "add", DOMAIN, check=0)
            cls.a.vmail("user", "add", EXISTING[0], "--password-stdin", input=EXISTING[1] + "\n", check=0)
            for node in cls.nodes:
                node.vmail("user", "list", check=0)  # builds the replica
                node.start()
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        for node in cls.nodes:
            node.cleanup()
        cls.pg.cleanup()

    def wait_login(self, node, address, password):
        wait_until(f"{address} logs in on {node.root}", lambda: imap_login_ok(node, address, password), interval=0.2)

    def test_a_user_added_on_a_logs_in_and_receives_mail_on_b(self):
        address, password = "newcomer@" + DOMAIN, "newcomer password"
        self.a.vmail("user", "add", address, "--password-stdin", input=password + "\n", check=0)
        self.wait_login(self.b, address, password)
        self.b.send("someone@outside.test", [address], "through node b")
        self.b.wait_for_message(address, "through node b")

    def test_b_eight_writers_on_two_nodes_lose_nothing(self):
        jobs = [(self.nodes[w % 2], w) for w in range(2 * WRITERS_PER_NODE)]
        with concurrent.futures.ThreadPoolExecutor(len(jobs)) as pool:
            results = list(pool.map(lambda job: writer(*job), jobs))
        users, aliases = {}, {}
        for u, a, _ in results:
            users.update(u)
            aliases.update(a)
        retries = sum(r for _, _, r in results)
        print(f"\n8 writers x {CHANGES} changes: {retries} retries after exit 75")

        def node_in_sync(node):
            got_users = dict(replica_rows(node, "SELECT address, quota FROM users WHERE address LIKE 'w%'"))
            got_aliases = dict(replica_rows(
                node, "SELECT a.source, d.destination FROM aliases a JOIN alias_destinations d ON d.alias_id = a.id "
                      "WHERE a.source LIKE 'w%'"))
            return got_users == users and got_aliases == aliases

        for node in self.nodes:
            wait_until(f"{node.root} replica holds every change", lambda: node_in_sync(node))
            wait_until(f"{node.root} export --check",
                       lambda: node.vmail("export", "--check").returncode == 0, interval=0.5)
        count = self.pg.psql(f"SELECT count(*) FROM users WHERE address LIKE 'w%'").strip()
        self.assertEqual(int(count), len(users))
        count = self.pg.psql(f"SELECT count(*) FROM aliases WHERE source LIKE 'w%'").strip()
        self.assertEqual(int(count), len(aliases))

    def test_c_outage_keeps_mail_and_logins_then_catches_up(self):
        self.pg.stop()
        try:
            for n, node in enumerate(self.nodes):
                self.assertTrue(imap_login_ok(node, *EXISTING))
                node.send("someone@outside.test", [EXISTING[0]], f"during the outage {n}")
                node.wait_for_message(EXISTING[0], f"during the outage {n}")
            p = self.a.vmail("user", "add", "late@" + DOMAIN, "--hash", HASH, check=75)
            self.assertEqual(len(p.stderr.strip().splitlines()), 1, p.stderr)
            for node in self.nodes:
                wait_until("health names the outage", lambda: "shared store unreachable since" in
                           node.health().stdout, interval=0.5)
                line = [l for l in node.health().stdout.splitlines() if l.startswith("follower")][0]
                self.assertIn("unhealthy", line)
                self.assertIn("serving the replica at change", line)
            # A node restarted during the outage serves its replica: logins and mail.
            self.assertEqual(self.b.stop()[0], 0)
            self.b.start(wait=False)
            wait_until("restarted B's mail services healthy", lambda: mail_services_healthy(self.b), interval=0.5)
            self.assertTrue(imap_login_ok(self.b, *EXISTING))
            self.assertIn("serving the replica at change", self.b.log())
            self.b.send("someone@outside.test", [EXISTING[0]], "after a restart during the outage")
            self.b.wait_for_message(EXISTING[0], "after a restart during the outage")
            # A new node has no replica to serve: 75 in one line, nothing started.
            c = Server(extra_env={"VMAIL_DB": self.pg.url, "VMAIL_DB_PASSWORD_FILE": self.pg.password_file})
            try:
                p = c.launch()
                self.assertEqual(p.returncode, 75, p.stdout + p.stderr)
                self.assertIn("no replica yet to serve from", p.stdout + p.stderr)
                self.assertEqual(c.leftovers(), [])
            finally:
                c.cleanup()
        finally:
            self.pg.start()
        address, password = "after@" + DOMAIN, "after password"
        self.a.vmail("user", "add", address, "--password-stdin", input=password + "\n", check=0)
        for node in self.nodes:
            self.wait_login(node, address, password)
            node.wait_healthy(30)

    def test_d_a_killed_follower_is_restarted_and_catches_up(self):
        pid = follower_pid(self.b)
        self.assertIsNotNone(pid, "node B runs a follower")
        os.kill(pid, signal.SIGKILL)
        address, password = "restarted@" + DOMAIN, "restarted password"
        self.a.vmail("user", "add", address, "--password-stdin", input=password + "\n", check=0)
        self.wait_login(self.b, address, password)
        wait_until("a new follower runs", lambda: follower_pid(self.b) not in (None, pid))
        self.b.wait_healthy(30)


if __name__ == "__main__":
    unittest.main()
