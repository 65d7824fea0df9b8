"""End-to-end tests of the NSS module (issue: NSS module and `vmail getent`):
glibc's own `getent -s vmail` loading the built libnss_vmail.so.2 through
LD_LIBRARY_PATH, compared byte for byte with `vmail getent`, each under its
own VMAIL_ROOT. Nothing touches the machine's /etc."""

import os
import sqlite3
import subprocess
import unittest

from harness import BUILD_DIR, VMAIL, InstanceTestCase

MODULE = os.path.join(BUILD_DIR, "libnss_vmail.so.2")
HASH = "{SHA512-CRYPT}$6$salt$" + "h" * 86
EXPORTS = {
    "_nss_vmail_getpwnam_r", "_nss_vmail_setpwent", "_nss_vmail_getpwent_r", "_nss_vmail_endpwent",
    "_nss_vmail_getaliasbyname_r", "_nss_vmail_setaliasent", "_nss_vmail_getaliasent_r",
    "_nss_vmail_endaliasent",
}


def sanitized_build():
    try:
        with open(os.path.join(BUILD_DIR, "CMakeCache.txt")) as f:
            return "VMAIL_SANITIZE:BOOL=ON" in f.read()
    except OSError:
        return False


def module_env(base):
    """The environment for a program that loads the module: the build folder
    on the library path and, for a sanitizer build, the ASan runtime preloaded
    (it must come first in a program that was not built with it)."""
    env = dict(base, LD_LIBRARY_PATH=BUILD_DIR)
    if sanitized_build():
        asan = subprocess.run(["gcc", "-print-file-name=libasan.so"], capture_output=True, text=True).stdout.strip()
        env["LD_PRELOAD"] = asan
        # getent itself is not ours; the module's leaks are checked by nss_threads_test.
        env["ASAN_OPTIONS"] = "detect_leaks=0"
    return env


class Nss(InstanceTestCase):
    def getent(self, *args, env=None):
        """`getent -s vmail ARGS` with the built module; a CompletedProcess of bytes."""
        e = module_env(self.inst.env)
        if env:
            e.update(env)
        return subprocess.run(["getent", "-s", "vmail", *args], env=e, capture_output=True, timeout=60)

    def vmail_getent(self, *args, env=None):
        e = dict(self.inst.env)
        if env:
            e.update(env)
        return subprocess.run([VMAIL, "getent", *args], env=e, capture_output=True, timeout=60)

    def assert_same(self, *args, status=0, env=None):
        """Both print the same bytes and exit with `status`; returns the output."""
        g = self.getent(*args, env=env)
        v = self.vmail_getent(*args, env=env)
        self.assertEqual(g.returncode, status, f"getent {args}: {g.stderr!r}")
        self.assertEqual(v.returncode, status, f"vmail getent {args}: {v.stderr!r}")
        self.assertEqual(v.stdout, g.stdout, f"getent {args}")
        self.assertEqual(g.stderr, b"", f"getent {args}")
        return g.stdout.decode()

    def populate(self):
        v = self.inst.vmail
        v("domain", "add", "example.com", check=0)
        v("domain", "add", "other.org", check=0)
        self.inst.add_user("alice@example.com", "alice password", "--name", "Alice Zoë Example")
        v("user", "add", "bob@example.com", "--hash", HASH, check=0)
        v("user", "add", "dave@other.org", "--hash", HASH, "--name", "Dave", check=0)
        v("user", "disable", "bob@example.com", check=0)
        v("alias", "add", "sales@example.com", "alice@example.com,bob@example.com,x@elsewhere.net", check=0)
        v("alias", "add", "@example.com", "alice@example.com", check=0)
        v("alias", "add", "postmaster@other.org", "dave@other.org", check=0)

    def record(self, **settings):
        """Records export settings in the database, as vmail-launch does."""
        con = sqlite3.connect(self.inst.db)
        try:
            con.executemany("INSERT OR REPLACE INTO settings (name, value) VALUES (?, ?)", settings.items())
            con.commit()
        finally:
            con.close()

    def test_lookups_match_getent_byte_for_byte(self):
        self.populate()
        home = self.inst.mail_dir
        alice = f"alice@example.com:x:5000:5000:Alice Zoë Example:{home}/example.com/alice:/usr/sbin/nologin\n"
        bob = f"bob@example.com:x:5000:5000::{home}/example.com/bob:/usr/sbin/nologin\n"
        dave = f"dave@other.org:x:5000:5000:Dave:{home}/other.org/dave:/usr/sbin/nologin\n"

        self.assertEqual(self.assert_same("passwd", "alice@example.com"), alice)
        self.assertEqual(self.assert_same("passwd", "ALICE@Example.COM"), alice, "case-insensitive, stored name")
        self.assertEqual(self.assert_same("passwd", "bob@example.com"), bob, "a disabled user still resolves")
        self.assertEqual(self.assert_same("passwd"), alice + bob + dave, "enumeration, ordered by address")

        sales = "sales@example.com: alice@example.com, bob@example.com, x@elsewhere.net\n"
        catch_all = "@example.com:   alice@example.com\n"
        postmaster = "postmaster@other.org: dave@other.org\n"
        self.assertEqual(self.assert_same("aliases", "sales@example.com"), sales)
        self.assertEqual(self.assert_same("aliases", "Sales@EXAMPLE.com"), sales)
        self.assertEqual(self.assert_same("aliases", "@example.com"), catch_all, "a catch-all, padded to 14")
        self.assertEqual(self.assert_same("aliases"), catch_all + postmaster + sales, "ordered by source")

        # Several keys: each one found is printed, one missing makes it exit 2.
        self.assertEqual(self.assert_same("passwd", "dave@other.org", "alice@example.com"), dave + alice)
        self.assertEqual(self.assert_same("passwd", "nobody@example.com", "dave@other.org", status=2), dave)

    def test_unknown_key_exits_2(self):
        self.populate()
        for db, key in [("passwd", "nobody@example.com"), ("passwd", "sales@example.com"), ("passwd", "root"),
                        ("passwd", "alice"), ("passwd", "alice@example.com@x"), ("passwd", "@example.com"),
                        ("passwd", "alice@exämple.com"), ("aliases", "alice@example.com"),
                        ("aliases", "@other.org"), ("aliases", "nobody@nowhere.net")]:
            with self.subTest(db=db, key=key):
                self.assertEqual(self.assert_same(db, key, status=2), "")

    def test_recorded_settings_give_home_uid_and_gid(self):
        self.populate()
        self.record(VMAIL_MAIL_DIR="/srv/mail", VMAIL_UID="6001", VMAIL_GID="6002")
        line = "dave@other.org:x:6001:6002:Dave:/srv/mail/other.org/dave:/usr/sbin/nologin\n"
        self.assertEqual(self.assert_same("passwd", "dave@other.org"), line)
        self.assertIn(line, self.assert_same("passwd"))
        # The environment overrides the recorded values, for both alike.
        env = {"VMAIL_UID": "7000", "VMAIL_MAIL_DIR": "/elsewhere"}
        line = "dave@other.org:x:7000:6002:Dave:/elsewhere/other.org/dave:/usr/sbin/nologin\n"
        self.assertEqual(self.assert_same("passwd", "dave@other.org", env=env), line)
        # A bad recorded value makes the database unusable rather than guessed at.
        self.record(VMAIL_UID="0")
        self.assertEqual(self.getent("passwd", "dave@other.org").returncode, 2)
        v = self.vmail_getent("passwd", "dave@other.org")
        self.assertEqual(v.returncode, 78, v.stderr)
        self.assertIn(b"VMAIL_UID", v.stderr)

    def test_hostile_rows_are_skipped_not_printed(self):
        """Rows written behind the CLI's back must not forge passwd lines or homes."""
        self.populate()
        con = sqlite3.connect(self.inst.db)
        try:
            did = con.execute("SELECT id FROM domains WHERE name = 'example.com'").fetchone()[0]
            con.execute("INSERT INTO users (domain_id, local, address, password, name) VALUES (?, ?, ?, ?, ?)",
                        (did, "eve", "eve@example.com", HASH, "Eve\nroot:x:0:0::/root:/bin/sh"))
            con.execute("INSERT INTO users (domain_id, local, address, password) VALUES (?, ?, ?, ?)",
                        (did, "..", "..@example.com", HASH))
            con.execute("INSERT INTO users (domain_id, local, address, password, name) VALUES (?, ?, ?, ?, ?)",
                        (did, "mallory", "mallory@example.com", HASH, "a:b"))
            con.commit()
        finally:
            con.close()
        for key in ("eve@example.com", "..@example.com", "mallory@example.com"):
            self.assert_same("passwd", key, status=2)
        listing = self.assert_same("passwd")
        self.assertEqual(len(listing.splitlines()), 3)
        self.assertNotIn("root", listing)

    def test_alias_with_an_unsafe_destination_agrees_with_the_virtual_map(self):
        """Regression: an alias with one unsafe destination (written behind the
        CLI's back) kept its safe destinations in the exported `virtual` map but
        vanished from getent. One row policy: both keep the safe ones."""
        self.populate()
        con = sqlite3.connect(self.inst.db)
        try:
            aid = con.execute("SELECT id FROM aliases WHERE source = 'sales@example.com'").fetchone()[0]
            for i, bad in enumerate(["evil\nroot@example.com", "a b@example.com", "c,d@example.com", "nodomain"]):
                con.execute("INSERT INTO alias_destinations (alias_id, destination, position) VALUES (?, ?, ?)",
                            (aid, bad, 10 + i))
            con.commit()
        finally:
            con.close()
        export = self.inst.vmail("export")
        self.assertEqual(export.returncode, 0, export.stderr)
        with open(os.path.join(self.inst.postfix_dir, "virtual")) as f:
            mapped = dict(line.split(" ", 1) for line in f.read().splitlines() if line)
        want = "alice@example.com,bob@example.com,x@elsewhere.net"
        self.assertEqual(mapped["sales@example.com"], want)
        line = self.assert_same("aliases", "sales@example.com")
        name, members = line.rstrip("\n").split(":", 1)
        self.assertEqual(name, "sales@example.com")
        self.assertEqual(",".join(m.strip() for m in members.split(",")), want)
        self.assertIn(line, self.assert_same("aliases"))

    def test_sees_commits_still_in_the_wal(self):
        """A writer that keeps the database open leaves its commits in the -wal
        file; lookups must see them at once."""
        self.populate()
        self.assert_same("passwd", "alice@example.com")
        con = sqlite3.connect(self.inst.db)
        self.addCleanup(con.close)
        con.execute("PRAGMA wal_autocheckpoint = 0")
        did = con.execute("SELECT id FROM domains WHERE name = 'other.org'").fetchone()[0]
        con.execute("INSERT INTO users (domain_id, local, address, password) VALUES (?, 'carol', 'carol@other.org', ?)",
                    (did, HASH))
        con.commit()
        self.assertTrue(os.path.exists(self.inst.db + "-wal"))
        self.assertIn("carol@other.org:x:", self.assert_same("passwd", "carol@other.org"))
        self.assertIn("carol@other.org:x:", self.assert_same("passwd"))
        con.execute("DELETE FROM users WHERE address = 'carol@other.org'")
        con.commit()
        self.assert_same("passwd", "carol@other.org", status=2)

    def test_no_database(self):
        """No database: nothing found, nothing created (the CLI says why)."""
        self.assertEqual(self.getent("passwd", "alice@example.com").returncode, 2)
        g = self.getent("passwd")
        self.assertEqual((g.returncode, g.stdout), (0, b""))
        self.assertEqual(self.getent("aliases", "sales@example.com").returncode, 2)
        v = self.vmail_getent("passwd", "alice@example.com")
        self.assertEqual(v.returncode, 66, v.stderr)
        self.assertEqual(v.stdout, b"")
        self.assertIn(b"no such database", v.stderr)
        self.assertEqual(self.vmail_getent("aliases").returncode, 66)
        self.assertEqual(os.listdir(self.inst.root), [], "neither the module nor vmail getent creates anything")

    def test_leading_dash_prints_like_putpwent(self):
        """getent prints with putpwent(3), which leaves uid and gid empty for a
        name starting with '-' (the old NIS netgroup form); `vmail getent`
        must print exactly that too."""
        v = self.inst.vmail
        v("domain", "add", "example.com", check=0)
        v("user", "add", "--hash", HASH, "--", "-dash@example.com", check=0)
        line = f"-dash@example.com:x::::{self.inst.mail_dir}/example.com/-dash:/usr/sbin/nologin\n"
        self.assertEqual(self.assert_same("passwd", "--", "-dash@example.com"), line)
        self.assertEqual(self.assert_same("passwd"), line)

    def test_creates_no_files(self):
        self.populate()
        state = os.path.dirname(self.inst.db)
        before = sorted(os.listdir(state))
        self.assertNotIn("vmail.db-wal", before)
        self.assert_same("passwd", "alice@example.com")
        self.assert_same("passwd")
        self.assert_same("aliases")
        self.assertEqual(sorted(os.listdir(state)), before)

    def test_read_only_volume(self):
        """The state folder mounted read-only (a private mount namespace; root
        ignores file modes, not mounts)."""
        self.populate()
        state = os.path.dirname(self.inst.db)
        script = 'mount --bind "$1" "$1" && mount -o remount,ro,bind "$1" "$1" && shift && exec "$@"'

        def run(*cmd):
            return subprocess.run(["unshare", "-m", "sh", "-c", script, "sh", state, *cmd],
                                  env=module_env(self.inst.env), capture_output=True, timeout=60)

        probe = run("true")
        if probe.returncode != 0:
            self.skipTest(f"no private mount namespace here: {probe.stderr!r}")
        want = self.assert_same("passwd", "alice@example.com").encode()
        for cmd in (["getent", "-s", "vmail", "passwd", "alice@example.com"],
                    [VMAIL, "getent", "passwd", "alice@example.com"]):
            with self.subTest(cmd=cmd[0]):
                p = run(*cmd)
                self.assertEqual((p.returncode, p.stdout), (0, want), p.stderr)
        p = run("getent", "-s", "vmail", "aliases")
        self.assertEqual((p.returncode, p.stdout), (0, self.assert_same("aliases").encode()), p.stderr)

    def test_links_none_of_the_cli_libraries(self):
        """The module is loaded into every process that resolves a user: it
        must not pull in libxcrypt, libidn2, spdlog, fmt or OpenSSL."""
        p = subprocess.run(["readelf", "-d", MODULE], capture_output=True, text=True, check=True)
        needed = [line for line in p.stdout.splitlines() if "(NEEDED)" in line]
        self.assertTrue(needed, p.stdout)
        for lib in ("libcrypt", "libidn2", "libspdlog", "libfmt", "libssl", "libcrypto"):
            self.assertFalse([n for n in needed if lib in n], f"{lib} in {needed}")

    def test_exports_only_nss_symbols(self):
        p = subprocess.run(["nm", "-D", "--defined-only", MODULE], capture_output=True, text=True, check=True)
        names = {line.split()[-1] for line in p.stdout.splitlines() if line.strip()}
        self.assertEqual(names, EXPORTS)


if __name__ == "__main__":
    unittest.main()
