"""A private PostgreSQL 15 server for end-to-end tests (issue 14): its own
data folder in a temp dir, a free 127.0.0.1 port, scram-sha-256 password
auth for the role `vmail` (random password), and a database `vmail`.

    pg = PgServer()              # initdb + start; .url carries no password
    pg.psql("SELECT 1")          # runs psql as role vmail over TCP
    pg.stop(); pg.start()        # the data survives
    pg.cleanup()                 # stop and remove everything
    PgServer(tls=True)           # TCP logins only over TLS, with a
                                 # certificate for 127.0.0.1 from pg.ca_file

vmail reaches it with VMAIL_DB=pg.url and VMAIL_DB_PASSWORD_FILE=pg.password_file
(or PGPASSFILE=pg.pgpass, as pg.client_env() sets for psql).

initdb and postgres refuse to run as root, so as root they run as the
`postgres` user (Debian's `postgresql` package creates it) through runuser;
only the folder holding the cluster is handed to that user."""

import os
import pwd
import secrets
import shutil
import signal
import subprocess
import tempfile
import time

from harness import free_ports

PG_BIN = os.environ.get("VMAIL_PG_BIN", "/usr/lib/postgresql/15/bin")
ROLE = "vmail"
DATABASE = "vmail"


class PgError(AssertionError):
    """A PostgreSQL command or the server failed; the message says which and why."""


class PgServer:
    def __init__(self, start=True, tls=False):
        self.tls = tls
        self.base = tempfile.mkdtemp(prefix="vmail-pg-")
        try:
            self._setup()
            if start:
                self.start()
        except BaseException:
            self.cleanup()
            raise

    def _setup(self):
        # mkdtemp makes a 0700 folder; the server's user must pass through it.
        os.chmod(self.base, 0o711)
        self.cluster = os.path.join(self.base, "pg")      # owned by the server's user
        self.data = os.path.join(self.cluster, "data")
        self.sockdir = os.path.join(self.cluster, "sock")
        self.logfile = os.path.join(self.cluster, "server.log")
        os.mkdir(self.cluster, 0o700)
        os.mkdir(self.sockdir, 0o700)
        if os.geteuid() == 0:
            user = pwd.getpwnam("postgres")
            for path in (self.cluster, self.sockdir):
                os.chown(path, user.pw_uid, user.pw_gid)
        self.port = free_ports(1)[0]
        self.password = secrets.token_urlsafe(24)
        self.password_file = self._private_file("password", self.password + "\n")
        self.pgpass = self._private_file("pgpass", "")
        self._initdb()
        self._configure()
        self._write_pgpass()
        self.running = False
        self._role_created = False

    @property
    def url(self):
        """postgresql://vmail@127.0.0.1:PORT/vmail (never the password)."""
        return f"postgresql://{ROLE}@127.0.0.1:{self.port}/{DATABASE}"

    def _private_file(self, name, text):
        path = os.path.join(self.base, name)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(text)
        return path

    def _write_pgpass(self):
        with open(self.pgpass, "w") as f:
            f.write(f"127.0.0.1:{self.port}:*:{ROLE}:{self.password}\n")

    def _as_server_user(self, args, **kwargs):
        """Runs a PostgreSQL program as the server's user; CompletedProcess."""
        prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        return subprocess.run(prefix + args, cwd=self.cluster, capture_output=True, text=True,
                              timeout=kwargs.pop("timeout", 120), **kwargs)

    def _initdb(self):
        p = self._as_server_user([os.path.join(PG_BIN, "initdb"), "-D", self.data, "-U", "postgres",
                                  "-E", "UTF8", "--locale=C.UTF-8", "--no-sync", "-A", "reject"])
        if p.returncode != 0:
            raise PgError(f"initdb failed ({p.returncode}):\n{p.stdout}{p.stderr}")

    def _configure(self):
        """Loopback TCP only, the socket in our own folder; clients log in with
        a scram password over TCP; the local socket (0700, the server user's)
        lets only the superuser in, to create the role."""
        with open(os.path.join(self.data, "postgresql.conf"), "a") as f:
            f.write(f"\nlisten_addresses = '127.0.0.1'\nport = {self.port}\n"
                    f"unix_socket_directories = '{self.sockdir}'\n"
                    "password_encryption = 'scram-sha-256'\n")
        tcp = "host all all 127.0.0.1/32 scram-sha-256\n"
        if self.tls:
            self._make_certificates()
            with open(os.path.join(self.data, "postgresql.conf"), "a") as f:
                f.write(f"ssl = on\nssl_cert_file = '{self.cluster}/server.crt'\n"
                        f"ssl_key_file = '{self.cluster}/server.key'\n")
            tcp = "hostssl all all 127.0.0.1/32 scram-sha-256\nhostnossl all all 127.0.0.1/32 reject\n"
        with open(os.path.join(self.data, "pg_hba.conf"), "w") as f:
            f.write("local all postgres trust\n" + tcp)

    def _make_certificates(self):
        """A test CA (self.ca_file), a server certificate for IP 127.0.0.1
        signed by it, and a second CA that did not sign it (self.other_ca_file)."""
        def openssl(*args):
            p = subprocess.run(["openssl", *args], cwd=self.base, capture_output=True, text=True, timeout=60)
            if p.returncode != 0:
                raise PgError(f"openssl {args[0]} failed: {p.stderr}")
        ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
        for name in ("ca", "other-ca"):
            openssl("req", "-x509", *ec, "-keyout", f"{name}.key", "-out", f"{name}.crt", "-days", "2",
                    "-subj", f"/CN=vmail test {name}")
        openssl("req", *ec, "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=127.0.0.1")
        with open(os.path.join(self.base, "san.ext"), "w") as f:
            f.write("subjectAltName = IP:127.0.0.1\n")
        openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
                "-out", "server.crt", "-days", "2", "-extfile", "san.ext")
        for name in ("server.crt", "server.key"):
            target = os.path.join(self.cluster, name)
            shutil.move(os.path.join(self.base, name), target)
            os.chmod(target, 0o600)
            if os.geteuid() == 0:
                user = pwd.getpwnam("postgres")
                os.chown(target, user.pw_uid, user.pw_gid)
        self.ca_file = os.path.join(self.base, "ca.crt")
        self.other_ca_file = os.path.join(self.base, "other-ca.crt")

    def log_tail(self, lines=30):
        try:
            with open(self.logfile, errors="replace") as f:
                return "".join(f.readlines()[-lines:])
        except OSError as e:
            return f"(no server log: {e})"

    def start(self):
        """Starts the server and waits until it accepts connections; the first
        start creates the role and database. A port taken meanwhile by
        someone else gets one retry on a new port."""
        for attempt in range(2):
            p = self._as_server_user([os.path.join(PG_BIN, "pg_ctl"), "-D", self.data, "-l", self.logfile,
                                      "-w", "-t", "60", "start"])
            if p.returncode == 0:
                break
            tail = self.log_tail()
            if attempt == 0 and "could not bind" in tail:
                self._reset_port()
                continue
            raise PgError(f"pg_ctl start on port {self.port} failed ({p.returncode}): {p.stdout}{p.stderr}\n"
                          f"server log ({self.logfile}):\n{tail}")
        self.running = True
        if not self._role_created:
            self._create_role()
            self._role_created = True

    def _reset_port(self):
        self.port = free_ports(1)[0]
        with open(os.path.join(self.data, "postgresql.conf"), "a") as f:
            f.write(f"port = {self.port}\n")
        self._write_pgpass()

    def _create_role(self):
        self._superuser(f"CREATE ROLE {ROLE} LOGIN PASSWORD '{self.password}';\n"
                        f"CREATE DATABASE {DATABASE} OWNER {ROLE};\n")

    def new_database(self, name):
        """Creates another database owned by `vmail` (tests sharing one
        server each get their own store); returns its URL."""
        self._superuser(f"CREATE DATABASE {name} OWNER {ROLE};\n")
        return f"postgresql://{ROLE}@127.0.0.1:{self.port}/{name}"

    def _superuser(self, sql):
        p = self._as_server_user([os.path.join(PG_BIN, "psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1",
                                  "-h", self.sockdir, "-p", str(self.port), "-U", "postgres", "-d", "postgres"],
                                 input=sql)
        if p.returncode != 0:
            raise PgError(f"as superuser: {p.stderr}\nSQL: {sql}")

    def client_env(self):
        """Environment for a libpq client logging in as `vmail`: the password
        comes from the pgpass file, never from the command line."""
        return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8",
                "PGPASSFILE": self.pgpass, "PGCONNECT_TIMEOUT": "10"}

    def psql_run(self, sql, db=DATABASE):
        """Runs `sql` (one or more statements, stopping at the first error)
        with psql over TCP as role `vmail`; CompletedProcess. Output is
        unaligned, tuples only, `|` between columns."""
        args = [os.path.join(PG_BIN, "psql"), "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1",
                "-h", "127.0.0.1", "-p", str(self.port), "-U", ROLE, "-d", db, "-f", "-"]
        return subprocess.run(args, input=sql, env=self.client_env(), capture_output=True, text=True, timeout=120)

    def psql(self, sql, db=DATABASE):
        """Like psql_run; returns stdout and raises PgError when psql fails."""
        p = self.psql_run(sql, db)
        if p.returncode != 0:
            raise PgError(f"psql failed ({p.returncode}): {p.stderr.strip()}\nSQL: {sql[:500]}")
        return p.stdout

    def stop(self):
        """Fast shutdown (active sessions are ended); a no-op when stopped."""
        if not self.running:
            return
        p = self._as_server_user([os.path.join(PG_BIN, "pg_ctl"), "-D", self.data, "-m", "fast", "-w", "-t", "60",
                                  "stop"])
        if p.returncode != 0:
            raise PgError(f"pg_ctl stop failed ({p.returncode}): {p.stdout}{p.stderr}\n{self.log_tail()}")
        self.running = False

    def _kill_postmaster(self):
        """Last resort when pg_ctl could not stop it: SIGQUIT, then SIGKILL."""
        try:
            with open(os.path.join(self.data, "postmaster.pid")) as f:
                pid = int(f.readline())
        except (OSError, ValueError):
            return
        for sig in (signal.SIGQUIT, signal.SIGKILL):
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                return
            for _ in range(50):
                try:
                    os.kill(pid, 0)
                except ProcessLookupError:
                    return
                time.sleep(0.1)

    def cleanup(self):
        """Stops the server (whatever it takes) and removes its folder."""
        if getattr(self, "running", False):
            try:
                self.stop()
            except (PgError, subprocess.TimeoutExpired):
                self._kill_postmaster()
        elif os.path.exists(os.path.join(getattr(self, "data", self.base), "postmaster.pid")):
            self._kill_postmaster()
        shutil.rmtree(self.base, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.cleanup()
