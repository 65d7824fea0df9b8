"""Shared helpers for end-to-end tests: a private VMAIL_ROOT per test, the
built programs, and free loopback ports. Every test runs against the real
programs (vmail, postmap, doveadm, postfix, dovecot); nothing is mocked."""

import os
import resource
import shutil
import socket
import sqlite3
import subprocess
import tempfile
import unittest

BUILD_DIR = os.environ.get("VMAIL_BUILD_DIR") or os.path.join(os.path.dirname(__file__), "..", "..", "build")
SOURCE_DIR = os.environ.get("VMAIL_SOURCE_DIR") or os.path.join(os.path.dirname(__file__), "..", "..")
VMAIL = os.path.join(BUILD_DIR, "vmail")
# Set by tests/CMakeLists.txt in the sanitizer build (scripts/test's second pass).
SANITIZED = os.environ.get("VMAIL_SANITIZED") == "1"
MEMORY_LIMIT = 2 << 30


def run_with_memory_limit(argv, env, **kwargs):
    """subprocess.run with 2 GiB for the program, so one that reads an endless
    or huge input whole fails instead of taking the machine's memory. ASan
    reserves terabytes of address space, so there RLIMIT_AS cannot be used:
    ASan's own allocation limit (an error report, never exit 65) takes its place."""
    if SANITIZED:
        asan = env.get("ASAN_OPTIONS", os.environ.get("ASAN_OPTIONS", ""))
        limit = f"max_allocation_size_mb={MEMORY_LIMIT >> 20}"
        env = {**env, "ASAN_OPTIONS": f"{asan}:{limit}" if asan else limit}
        return subprocess.run(argv, env=env, **kwargs)

    def limited():
        resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))
    return subprocess.run(argv, env=env, preexec_fn=limited, **kwargs)


def free_ports(count):
    """Returns `count` distinct free TCP ports on 127.0.0.1 (high range)."""
    socks, ports = [], []
    try:
        while len(ports) < count:
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
            if port >= 20000:
                ports.append(port)
                socks.append(s)
            else:
                s.close()
    finally:
        for s in socks:
            s.close()
    return ports


class Instance:
    """One isolated vmail instance under a temp VMAIL_ROOT."""

    def __init__(self, extra_env=None):
        self.root = tempfile.mkdtemp(prefix="vmail-test-")
        self.env = {
            "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "VMAIL_ROOT": self.root,
            "LANG": "C.UTF-8",
        }
        if extra_env:
            self.env.update(extra_env)

    @property
    def db(self):
        return os.path.join(self.root, "data/state/vmail.db")

    @property
    def postfix_dir(self):
        return os.path.join(self.root, "etc/postfix")

    @property
    def dovecot_dir(self):
        return os.path.join(self.root, "etc/dovecot")

    @property
    def mail_dir(self):
        return os.path.join(self.root, "var/mail/vhosts")

    def vmail(self, *args, input=None, env=None, check=None):
        """Runs `vmail ARGS`; returns CompletedProcess with text output.
        check=N asserts the exit status is N."""
        e = dict(self.env)
        if env:
            e.update(env)
        p = subprocess.run([VMAIL, *args], input=input, env=e, capture_output=True, text=True, timeout=120)
        if check is not None and p.returncode != check:
            raise AssertionError(
                f"vmail {' '.join(args)}: exit {p.returncode}, expected {check}\n"
                f"stdout: {p.stdout}\nstderr: {p.stderr}")
        return p

    def add_user(self, address, password="correct horse", *extra):
        return self.vmail("user", "add", address, "--password-stdin", *extra, input=password + "\n", check=0)

    def dump_db(self):
        """Every row of every table, for before/after comparisons."""
        con = sqlite3.connect(f"file:{self.db}?mode=ro", uri=True)
        try:
            out = []
            for (name,) in con.execute("SELECT name FROM sqlite_master WHERE type='table' ORDER BY name"):
                out.append((name, sorted(con.execute(f'SELECT * FROM "{name}"').fetchall(), key=repr)))
            out.append(("user_version", con.execute("PRAGMA user_version").fetchone()))
            return out
        finally:
            con.close()

    def exported_files(self):
        """name -> bytes of every exported file (and postmap database)."""
        out = {}
        for d in (self.postfix_dir, self.dovecot_dir):
            if not os.path.isdir(d):
                continue
            for name in sorted(os.listdir(d)):
                path = os.path.join(d, name)
                if os.path.isfile(path):
                    with open(path, "rb") as f:
                        out[path] = f.read()
        return out

    def postmap_q(self, key, map_name, map_type="hash"):
        """`postmap -q KEY type:map`; returns the value or None."""
        p = subprocess.run(
            ["postmap", "-c", os.path.join(self.root, "data/state/postmap"), "-q", key,
             f"{map_type}:{os.path.join(self.postfix_dir, map_name)}"],
            capture_output=True, text=True, timeout=30)
        if p.returncode == 1:
            return None
        if p.returncode != 0:
            raise AssertionError(f"postmap -q {key} {map_name}: {p.returncode} {p.stderr}")
        return p.stdout.rstrip("\n")

    def cleanup(self):
        shutil.rmtree(self.root, ignore_errors=True)


class InstanceTestCase(unittest.TestCase):
    """A TestCase with a fresh Instance as self.inst."""

    extra_env = None

    def setUp(self):
        self.inst = Instance(self.extra_env)
        self.addCleanup(self.inst.cleanup)
