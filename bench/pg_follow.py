#!/usr/bin/env python3
"""Follower latency and write throughput on a PostgreSQL store (issue 14).
Not a test: prints figures.

  1. One private PostgreSQL 15 and two launcher nodes A and B (as the e2e
     tests start them). N changes committed on A (`user add`); for each, the
     time from the end of the command until the address is in B's exported
     Dovecot users file, and until an IMAPS login on B succeeds (Dovecot
     polled with `doveadm user`, which has no failed-login delay, then one
     real IMAPS login): p50 / p99 (goal: p99 <= 1 s). Changes come at random
     moments, not back to back (see latency()).
  2. `user add --hash` throughput, N sequential commands, on PostgreSQL
     (through node A) beside a single-node SQLite store.

  bench/pg_follow.py [N, default 200]"""

import os
import random
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "e2e"))

from harness import Instance  # noqa: E402
from pg import PgServer  # noqa: E402
from server import DOMAIN, Server, imap_login_ok  # noqa: E402

HASH = "{SHA512-CRYPT}$6$benchsalt$" + "x" * 86
TIMEOUT = 10  # seconds before a change counts as not seen


def percentile(values, p):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def wait(predicate, start, interval):
    """Seconds from `start` until predicate() holds; None after TIMEOUT."""
    while time.monotonic() - start < TIMEOUT:
        if predicate():
            return time.monotonic() - start
        time.sleep(interval)
    return None


def in_users_file(node, address):
    try:
        with open(node.path("etc/dovecot/users")) as f:
            return any(line.startswith(address + ":") for line in f)
    except OSError:
        return False


def dovecot_knows(node, address):
    """Dovecot's auth process finds the user (a userdb lookup through the same
    passwd-file as the passdb; unlike a failed login it carries no failure delay)."""
    return subprocess.run(["doveadm", "-c", node.dovecot_conf, "user", address],
                          capture_output=True, timeout=30).returncode == 0


def login_after(node, address, password, start):
    """Seconds from `start` until an IMAPS login on `node` succeeds: Dovecot is
    polled with `doveadm user` until it sees the user, then a real client logs in."""
    if wait(lambda: dovecot_knows(node, address), start, 0.005) is None:
        return None
    return wait(lambda: imap_login_ok(node, address, password), start, 0.01)


def latency(a, b, n):
    to_file, to_login, missed = [], [], 0
    phase = random.Random(14)
    for i in range(n):
        # Dovecot stats its passwd-file at most once a second: a change landing
        # in the same second as the last login waits for the next second. Back
        # to back, every change would land just after a login; a random pause
        # spreads them over the second, as on a server with logins at any time.
        time.sleep(phase.uniform(0, 1))
        address, password = f"follow{i:04d}@{DOMAIN}", f"password {i:04d}"
        a.vmail("--no-export", "user", "add", address, "--password-stdin", input=password + "\n", check=0)
        start = time.monotonic()
        seen = wait(lambda: in_users_file(b, address), start, 0.002)
        login = login_after(b, address, password, start) if seen is not None else None
        if seen is None or login is None:
            missed += 1
            if not to_file:
                break  # the first change never arrived: B does not follow, measuring on is pointless
            continue
        to_file.append(seen)
        to_login.append(login)
    return to_file, to_login, missed


def throughput(run, n):
    start = time.monotonic()
    for i in range(n):
        run("--no-export", "user", "add", f"tp{i:05d}@{DOMAIN}", "--hash", HASH, check=0)
    return n / (time.monotonic() - start)


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    pg = PgServer()
    nodes = []
    try:
        env = {"VMAIL_DB": pg.url, "VMAIL_DB_PASSWORD_FILE": pg.password_file}
        a, b = Server(extra_env=env), Server(extra_env=env)
        nodes = [a, b]
        a.vmail("domain", "add", DOMAIN, check=0)
        for node in nodes:
            node.vmail("user", "list", check=0)
            node.start()
        to_file, to_login, missed = latency(a, b, n)
        if to_file:
            print(f"commit on A -> B's users file ({len(to_file)} of {n} changes): "
                  f"p50 {percentile(to_file, 50) * 1000:.0f} ms, p99 {percentile(to_file, 99) * 1000:.0f} ms")
            print(f"commit on A -> IMAPS login on B: "
                  f"p50 {percentile(to_login, 50) * 1000:.0f} ms, p99 {percentile(to_login, 99) * 1000:.0f} ms "
                  f"(goal p99 <= 1000 ms)")
        if missed:
            print(f"{missed} changes not seen on B within {TIMEOUT} s" +
                  ("" if to_file else " (stopped after the first: B does not follow A)"))
        pg_rate = throughput(a.vmail, n)
    finally:
        for node in nodes:
            node.cleanup()
        pg.cleanup()
    inst = Instance()
    try:
        inst.vmail("domain", "add", DOMAIN, check=0)
        sqlite_rate = throughput(inst.vmail, n)
    finally:
        inst.cleanup()
    print(f"user add --hash, {n} sequential: PostgreSQL {pg_rate:.1f}/s, SQLite {sqlite_rate:.1f}/s")


if __name__ == "__main__":
    sys.stdout.reconfigure(line_buffering=True)  # figures appear as they come
    main()
