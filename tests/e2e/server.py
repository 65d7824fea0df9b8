"""A real vmail server for end-to-end tests: `vmail-launch` under a private
VMAIL_ROOT, listening on free high ports on 127.0.0.1, with clients for every
protocol. Teardown always stops the launcher and kills whatever it left.

    server = Server()            # or Server(root=..., extra_env=...)
    server.start()               # waits until `vmail health` says healthy
    server.add_user("alice@example.test", "password-1")
    ...
    server.cleanup()             # stop, kill leftovers, remove the root

ServerTestCase shares one server per test class."""

import email.message
import imaplib
import os
import poplib
import shutil
import signal
import smtplib
import socket
import ssl
import subprocess
import tempfile
import time
import unittest

from harness import BUILD_DIR, VMAIL, free_ports

LAUNCH = os.path.join(BUILD_DIR, "vmail-launch")
SERVICES = ["smtp", "submission", "smtps", "imap", "imaps", "pop3", "pop3s", "managesieve", "quota-status",
            "resolver", "mta-sts", "policy", "send-policy"]
# The spam layer's loopback services: ports are always given (free ones), but
# they run (and `vmail health` lists them) only with VMAIL_SPAM=on, which a
# test asks for through extra_env (test_spam); every other test runs without.
SPAM_SERVICES = ["redis", "rspamd-milter", "rspamd-controller", "postgrey"]
DOMAIN = "example.test"
# A client address outside VMAIL_MYNETWORKS (127.0.0.1/32) and not the
# server's own address, which Dovecot would treat as secured.
FOREIGN_SOURCE = "127.0.0.2"


def port_variable(service):
    """quota-status -> VMAIL_QUOTA_STATUS_PORT."""
    return f"VMAIL_{service.upper().replace('-', '_')}_PORT"


def tls_context():
    """Clients accept the self-signed certificate; the handshake still runs."""
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def imap_login_ok(server, address, password):
    """True when `address` logs in over IMAPS with `password`."""
    c = server.imaps()
    try:
        c.login(address, password)
        return True
    except imaplib.IMAP4.error:
        return False
    finally:
        try:
            c.logout()
        except Exception:
            pass


def _proc_mentions(pid, needle):
    """True when a process's command line, working folder or environment names `needle`."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            if needle.encode() in f.read():
                return True
        if os.readlink(f"/proc/{pid}/cwd").startswith(needle):
            return True
        with open(f"/proc/{pid}/environ", "rb") as f:
            if needle.encode() in f.read():
                return True
    except (OSError, ValueError):
        pass
    return False


def processes_under(root):
    """PIDs of processes that belong to the instance under `root` (launcher,
    Postfix, Dovecot and their children: they run from, or name, the root)."""
    out = []
    for name in os.listdir("/proc"):
        if name.isdigit() and int(name) != os.getpid() and _proc_mentions(int(name), root):
            out.append(int(name))
    return out


def folder_chain_private(path):
    """True when no folder from / down to `path` is writable by others, the
    test OpenDKIM applies to its keys (RequireSafeKeys)."""
    path = os.path.realpath(path)
    while True:
        if os.stat(path).st_mode & 0o002:
            return False
        parent = os.path.dirname(path)
        if parent == path:
            return True
        path = parent


class Server:
    def __init__(self, root=None, extra_env=None, domain=DOMAIN):
        self.owns_root = root is None
        self.root = root or tempfile.mkdtemp(prefix="vmail-launch-")
        # Postfix and Dovecot (unprivileged) must be able to reach their folders.
        os.chmod(self.root, 0o755)
        self.domain = domain
        self.ports = dict(zip(SERVICES + SPAM_SERVICES, free_ports(len(SERVICES) + len(SPAM_SERVICES))))
        self.env = {
            "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "LANG": "C.UTF-8",
            "VMAIL_ROOT": self.root,
            "MAIL_DOMAIN": domain,
            "VMAIL_LISTEN": "127.0.0.1",
            "VMAIL_MYNETWORKS": "127.0.0.1/32",
            # rspamd's first start compiles its patterns (~25 s here): only
            # the tests of the spam layer turn it on.
            "VMAIL_SPAM": "off",
            # Tests try wrong passwords from 127.0.0.2 on purpose; login bans
            # are tested on their own (e2e.test_abuse_policy, which narrows this).
            "VMAIL_BAN_IGNORE": "127.0.0.0/8,::1/128",
        }
        for service, port in self.ports.items():
            self.env[port_variable(service)] = str(port)
        if not folder_chain_private(self.root):
            # OpenDKIM refuses keys below a folder others can write, sticky
            # /tmp included; a real root (/data) is private.
            self.env["VMAIL_DKIM_REQUIRE_SAFE_KEYS"] = "no"
        if extra_env:
            self.env.update(extra_env)
        self.proc = None
        self.log_path = os.path.join(self.root, "launcher.log")
        self._log = None

    # Paths --------------------------------------------------------------
    def path(self, *parts):
        return os.path.join(self.root, *parts)

    @property
    def postfix_dir(self):
        return self.path("etc/postfix")

    @property
    def dovecot_conf(self):
        return self.path("etc/dovecot/dovecot.conf")

    def queue_path(self, *parts):
        """Postfix's queue: on the state volume (SPEC "Deployment on volumes")."""
        return self.path("data/state/queue", *parts)

    def maildir(self, address):
        local, domain = address.split("@")
        return self.path("var/mail/vhosts", domain, local, "Maildir")

    # Lifecycle ----------------------------------------------------------
    def launch(self, *args, timeout=120):
        """Runs `vmail-launch ARGS` to completion (e.g. --configure-only or a
        bad configuration); returns CompletedProcess."""
        return subprocess.run([LAUNCH, *args], env=self.env, capture_output=True, text=True, timeout=timeout)

    def start(self, *args, wait=True, timeout=90):
        """Starts the launcher in the background and waits until healthy."""
        self._log = open(self.log_path, "ab")
        self.proc = subprocess.Popen([LAUNCH, *args], env=self.env, stdout=self._log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL)
        if wait:
            self.wait_healthy(timeout)
        return self

    def log(self):
        try:
            with open(self.log_path, encoding="utf-8", errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def health(self, *args, timeout=2):
        return self.vmail("health", "--timeout", str(timeout), *args)

    def wait_healthy(self, timeout=90):
        """Polls `vmail health` until it exits 0; fails with the log when the
        launcher exits or the time is up. Returns seconds waited."""
        start = time.monotonic()
        last = None
        while time.monotonic() - start < timeout:
            if self.proc is not None and self.proc.poll() is not None:
                raise AssertionError(f"vmail-launch exited {self.proc.returncode}\n{self.log()[-5000:]}")
            last = self.health()
            if last.returncode == 0:
                return time.monotonic() - start
            time.sleep(0.2)
        raise AssertionError(f"not healthy after {timeout} s: {last.stdout}\n{self.log()[-5000:]}")

    def stop(self, timeout=40):
        """SIGTERM to the launcher; returns (exit status, seconds taken)."""
        if self.proc is None:
            return None, 0.0
        start = time.monotonic()
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rc = self.proc.wait()
        took = time.monotonic() - start
        self.proc = None
        if self._log:
            self._log.close()
            self._log = None
        return rc, took

    def leftovers(self):
        return processes_under(self.root)

    def kill_leftovers(self):
        for _ in range(3):
            pids = self.leftovers()
            if not pids:
                return
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            time.sleep(0.2)

    def cleanup(self):
        try:
            self.stop()
        finally:
            self.kill_leftovers()
            if self.owns_root:
                shutil.rmtree(self.root, ignore_errors=True)

    def daemon_pid(self, name):
        """PID of Dovecot's master or Postfix's master for this instance."""
        if name == "dovecot":
            with open(self.path("run/dovecot/master.pid")) as f:
                return int(f.read().split()[0])
        with open(self.queue_path("pid/master.pid")) as f:
            return int(f.read().split()[0])

    # Admin CLI ------------------------------------------------------------
    def vmail(self, *args, input=None, check=None):
        p = subprocess.run([VMAIL, *args], env=self.env, input=input, capture_output=True, text=True, timeout=120)
        if check is not None and p.returncode != check:
            raise AssertionError(f"vmail {' '.join(args)}: exit {p.returncode}, expected {check}\n"
                                 f"stdout: {p.stdout}\nstderr: {p.stderr}")
        return p

    def add_user(self, address, password):
        """Adds a user, then waits until Dovecot's auth sees them (a userdb
        lookup succeeds). Dovecot stats its passwd-file at most once a
        second; the rendered dovecot.conf looks again a second later on a
        miss (e2e.test_first_mail), so this wait is a second at most."""
        result = self.vmail("user", "add", address, "--password-stdin", input=password + "\n", check=0)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            seen = subprocess.run(["doveadm", "-c", self.dovecot_conf, "user", address],
                                  capture_output=True, timeout=30)
            if seen.returncode == 0:
                break
            time.sleep(0.2)
        return result

    # Clients ----------------------------------------------------------------
    def smtp(self, service="smtp", source=None):
        """An SMTP client; submission is not yet in TLS, smtps is."""
        src = (source, 0) if source else None
        port = self.ports[service]
        if service == "smtps":
            return smtplib.SMTP_SSL("127.0.0.1", port, context=tls_context(), source_address=src, timeout=30)
        return smtplib.SMTP("127.0.0.1", port, source_address=src, timeout=30)

    def imaps(self):
        return imaplib.IMAP4_SSL("127.0.0.1", self.ports["imaps"], ssl_context=tls_context(), timeout=30)

    def imap(self, source=None):
        """Plain IMAP (143), optionally from another source address."""
        port = self.ports["imap"]

        class BoundIMAP(imaplib.IMAP4):
            def _create_socket(self, timeout):
                return socket.create_connection((self.host, self.port), timeout,
                                                source_address=(source, 0) if source else None)

        return BoundIMAP("127.0.0.1", port, timeout=30)

    def pop3s(self):
        return poplib.POP3_SSL("127.0.0.1", self.ports["pop3s"], context=tls_context(), timeout=30)

    def pop3(self, source=None):
        p = poplib.POP3.__new__(poplib.POP3)
        # poplib has no source address option: connect the socket ourselves.
        p.host, p.port = "127.0.0.1", self.ports["pop3"]
        p._tls_established = False
        p.encoding = "UTF-8"
        p.sock = socket.create_connection((p.host, p.port), 30, source_address=(source, 0) if source else None)
        p.file = p.sock.makefile("rb")
        p._debugging = 0
        p.welcome = p._getresp()
        return p

    def send(self, sender, recipients, subject, body="test body\n", service="smtp", source=None):
        """Sends one message over SMTP (port 25, no AUTH)."""
        msg = email.message.EmailMessage()
        msg["From"] = sender
        msg["To"] = ", ".join(recipients)
        msg["Subject"] = subject
        msg.set_content(body)
        with self.smtp(service, source) as s:
            return s.send_message(msg, from_addr=sender, to_addrs=recipients)

    def messages(self, address):
        """Raw bytes of every message in the mailbox's Maildir (new and cur)."""
        out = []
        base = self.maildir(address)
        for sub in ("new", "cur"):
            d = os.path.join(base, sub)
            if os.path.isdir(d):
                for name in sorted(os.listdir(d)):
                    with open(os.path.join(d, name), "rb") as f:
                        out.append(f.read())
        return out

    def wait_for_message(self, address, needle, timeout=30):
        """Waits until a message containing `needle` (str) is in the Maildir."""
        start = time.monotonic()
        while time.monotonic() - start < timeout:
            if any(needle.encode() in m for m in self.messages(address)):
                return True
            time.sleep(0.1)
        raise AssertionError(f"no message with {needle!r} for {address} after {timeout} s\n{self.log()[-3000:]}")

    def wait_queue_empty(self, timeout=30):
        """Waits until Postfix has no message in its incoming/active queues."""
        start = time.monotonic()
        while time.monotonic() - start < timeout:
            busy = False
            for q in ("incoming", "active"):
                for _, _, files in os.walk(self.queue_path(q)):
                    busy = busy or bool(files)
            if not busy:
                return
            time.sleep(0.1)
        raise AssertionError("Postfix queue not empty")


class ServerTestCase(unittest.TestCase):
    """One server for the whole class, started in setUpClass."""

    server = None
    extra_env = None

    @classmethod
    def setUpClass(cls):
        cls.server = Server(extra_env=cls.extra_env)
        try:
            cls.server.start()
            cls.prepare(cls.server)
        except BaseException:
            cls.server.cleanup()
            raise

    @classmethod
    def prepare(cls, server):
        """Override to add users and aliases once per class."""

    @classmethod
    def tearDownClass(cls):
        if cls.server is not None:
            cls.server.cleanup()
