#!/usr/bin/env python3
"""The first mail to, and the first login of, a user added a moment ago
(issue 23). Not a test: prints figures.

One launcher (as the e2e tests start it). Before each change Dovecot's auth
looks at its users file once (`doveadm user` of an existing user), as on a
server with logins at any moment, and a random pause spreads the changes
over the second (Dovecot stats the file at most once a second):

  1. N x (`user add`, then at once one message to the new address over
     SMTP): time from the end of the command until the message is in the
     Maildir, p50 / p99 (goal: within 5 s; the messages are sent back to
     back and polled together, so a message left to Postfix's 300 s back-off
     shows as "not delivered within TIMEOUT s" after the last one was sent);
  2. N x (`user add`, then IMAPS logins until one is accepted): time from the
     end of the command until a login is accepted, p50 / p99 (goal: within
     2 s; a refused login costs Dovecot's 2 s failure delay), and how many
     first attempts were refused;
  3. the same for `user passwd` and the new password.

  bench/first_mail.py [N, default 20]"""

import os
import random
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "e2e"))

from server import DOMAIN, Server, imap_login_ok  # noqa: E402

TIMEOUT = 30  # seconds before a message counts as not delivered
LOGIN_TIMEOUT = 10


def percentile(values, p):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def figures(values):
    return f"p50 {percentile(values, 50) * 1000:.0f} ms, p99 {percentile(values, 99) * 1000:.0f} ms"


def look_up(server):
    subprocess.run(["doveadm", "-c", server.dovecot_conf, "user", f"busy@{DOMAIN}"], capture_output=True,
                   timeout=30, check=True)


def delivery(server, n, phase):
    """Adds and mails one user after another while a thread watches every
    Maildir sent to so far (each arrival timed when it happens)."""
    sent = {}  # address -> (subject, end of `user add`)
    delivered = {}
    lock = threading.Lock()
    finished = threading.Event()

    def watch():
        while not finished.is_set():
            with lock:
                waiting = [(a, subj, done) for a, (subj, done) in sent.items() if a not in delivered]
            for address, subject, done in waiting:
                if any(subject.encode() in m for m in server.messages(address)):
                    delivered[address] = time.monotonic() - done
            time.sleep(0.01)

    watcher = threading.Thread(target=watch)
    watcher.start()
    command = []
    try:
        for i in range(n):
            time.sleep(phase.uniform(0, 1))
            address, subject = f"mail{i:04d}@{DOMAIN}", f"first-mail-{i:04d}"
            look_up(server)
            start = time.monotonic()
            server.vmail("user", "add", address, "--password-stdin", input="bench password\n", check=0)
            done = time.monotonic()
            command.append(done - start)
            server.send("sender@example.net", [address], subject)
            with lock:
                sent[address] = (subject, done)
        deadline = time.monotonic() + TIMEOUT
        while len(delivered) < n and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        finished.set()
        watcher.join()
    return list(delivered.values()), n - len(delivered), command


def login_after(server, address, password, done):
    """Seconds from `done` until an IMAPS login is accepted, and whether the
    first attempt was refused; None when none is accepted in LOGIN_TIMEOUT."""
    refused_first = None
    while time.monotonic() - done < LOGIN_TIMEOUT:
        ok = imap_login_ok(server, address, password)
        if refused_first is None:
            refused_first = not ok
        if ok:
            return time.monotonic() - done, refused_first
    return None, True


def logins(server, n, phase, change):
    took, refused, missed = [], 0, 0
    for i in range(n):
        time.sleep(phase.uniform(0, 1))
        address, password = change(i)
        look_up(server)
        command = ["user", "add"] if i == 0 or change.__name__ == "add" else ["user", "passwd"]
        server.vmail(*command, address, "--password-stdin", input=password + "\n", check=0)
        seconds, first_refused = login_after(server, address, password, time.monotonic())
        refused += first_refused
        if seconds is None:
            missed += 1
        else:
            took.append(seconds)
    return took, refused, missed


def add(i):
    return f"login{i:04d}@{DOMAIN}", f"login password {i:04d}"


def passwd(i):
    return f"passwd@{DOMAIN}", f"passwd password {i:04d}"


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    phase = random.Random(23)
    server = Server()
    try:
        server.start()
        server.add_user(f"busy@{DOMAIN}", "busy password")
        took, missed, command = delivery(server, n, phase)
        print(f"user add: {figures(command)} for the command itself")
        line = f"user add -> message delivered ({len(took)} of {n}): " + (figures(took) if took else "-")
        if missed:
            line += f"; {missed} not delivered within {TIMEOUT} s"
        print(line + " (goal: all within 5 s)")
        for change in (add, passwd):
            took, refused, missed = logins(server, n, phase, change)
            line = f"user {change.__name__} -> IMAPS login accepted ({len(took)} of {n}): " + (
                figures(took) if took else "-")
            line += f"; first attempt refused {refused} of {n}"
            if missed:
                line += f"; {missed} never within {LOGIN_TIMEOUT} s"
            print(line + " (goal: within 2 s, never refused)")
    finally:
        server.cleanup()


if __name__ == "__main__":
    sys.stdout.reconfigure(line_buffering=True)  # figures appear as they come
    main()
