"""End-to-end tests of the exporters (issue: exporters): the real vmail
against the real postmap (hash, lmdb, cdb) and a real Dovecot reading the
generated passwd-file, each under its own VMAIL_ROOT."""

import grp
import os
import stat
import subprocess
import threading
import time
import unittest

from harness import VMAIL, Instance, InstanceTestCase

MAP_TYPES = ("hash", "lmdb", "cdb")
MAPS = ("vmailbox", "virtual", "vdomains", "sender_logins")
DB_SUFFIX = {"hash": ".db", "lmdb": ".lmdb", "cdb": ".cdb"}
HASH = "{SHA512-CRYPT}$6$salt$" + "h" * 86


def populate(inst):
    v = inst.vmail
    v("domain", "add", "example.com", check=0)
    v("domain", "add", "other.org", check=0)
    inst.add_user("alice@example.com", "alice password", "--quota", "1G")
    inst.add_user("bob@example.com", "bob password")
    inst.add_user("dave@other.org", "dave password")
    v("user", "disable", "bob@example.com", check=0)
    v("alias", "add", "sales@example.com", "alice@example.com,bob@example.com,x@elsewhere.net", check=0)
    v("alias", "add", "@example.com", "alice@example.com", check=0)


def in_namespace_with_readonly(inst, readonly_dir, *args):
    """Runs `vmail ARGS` in a private mount namespace where `readonly_dir` is
    a read-only bind mount of itself (root ignores file modes, not mounts)."""
    script = 'mount --bind "$1" "$1" && mount -o remount,ro,bind "$1" "$1" && shift && exec "$@"'
    return subprocess.run(["unshare", "-m", "sh", "-c", script, "sh", readonly_dir, VMAIL, *args],
                          env=inst.env, capture_output=True, text=True, timeout=120)


class Maps(unittest.TestCase):
    def test_postmap_answers_for_every_map_type(self):
        for map_type in MAP_TYPES:
            with self.subTest(map_type=map_type):
                inst = Instance({"VMAIL_MAP_TYPE": map_type})
                self.addCleanup(inst.cleanup)
                populate(inst)

                def q(key, m):
                    return inst.postmap_q(key, m, map_type)

                for name in MAPS:
                    self.assertTrue(os.path.exists(os.path.join(inst.postfix_dir, name + DB_SUFFIX[map_type])))
                # Mailboxes, disabled ones included (they still receive).
                self.assertEqual(q("alice@example.com", "vmailbox"), "example.com/alice/Maildir/")
                self.assertEqual(q("bob@example.com", "vmailbox"), "example.com/bob/Maildir/")
                self.assertEqual(q("dave@other.org", "vmailbox"), "other.org/dave/Maildir/")
                self.assertIsNone(q("sales@example.com", "vmailbox"))
                self.assertIsNone(q("nobody@example.com", "vmailbox"))
                # Self-maps: a catch-all never swallows a real mailbox.
                for a in ("alice@example.com", "bob@example.com", "dave@other.org"):
                    self.assertEqual(q(a, "virtual"), a)
                self.assertEqual(q("sales@example.com", "virtual"),
                                 "alice@example.com,bob@example.com,x@elsewhere.net")
                self.assertEqual(q("@example.com", "virtual"), "alice@example.com")
                self.assertIsNone(q("@other.org", "virtual"))
                # Keys are case-insensitive in Postfix lookups.
                self.assertEqual(q("ALICE@Example.COM", "virtual"), "alice@example.com")
                self.assertEqual(q("example.com", "vdomains"), "OK")
                self.assertEqual(q("other.org", "vdomains"), "OK")
                self.assertIsNone(q("elsewhere.net", "vdomains"))
                self.assertEqual(q("alice@example.com", "sender_logins"), "alice@example.com")
                self.assertEqual(q("sales@example.com", "sender_logins"), "alice@example.com,bob@example.com")
                self.assertIsNone(q("@example.com", "sender_logins"))
                self.assertIsNone(q("anything@example.com", "sender_logins"))

                # A change reaches the maps; a deleted user leaves them.
                inst.vmail("user", "del", "dave@other.org", check=0)
                self.assertIsNone(q("dave@other.org", "vmailbox"))
                self.assertIsNone(q("dave@other.org", "virtual"))
                inst.vmail("alias", "del", "@example.com", check=0)
                self.assertIsNone(q("@example.com", "virtual"))

    def test_modes_and_owners(self):
        inst = Instance()
        self.addCleanup(inst.cleanup)
        populate(inst)
        st = os.stat(os.path.join(inst.dovecot_dir, "users"))
        self.assertEqual(stat.S_IMODE(st.st_mode), 0o640)
        self.assertEqual(st.st_uid, 0)
        self.assertEqual(st.st_gid, grp.getgrnam("dovecot").gr_gid)
        for name in MAPS:
            for suffix in ("", ".db"):
                st = os.stat(os.path.join(inst.postfix_dir, name + suffix))
                self.assertEqual(stat.S_IMODE(st.st_mode), 0o644, name + suffix)


class DovecotReadsUsers(InstanceTestCase):
    """A real Dovecot (auth only) reading the exported passwd-file."""

    def setUp(self):
        super().setUp()
        root = self.inst.root
        os.chmod(root, 0o755)  # Dovecot's auth worker runs as dovecot and must reach the users file
        for d in ("run", "lib"):
            os.makedirs(os.path.join(root, d))
        self.conf = os.path.join(root, "dovecot-test.conf")
        users = os.path.join(self.inst.dovecot_dir, "users")
        with open(self.conf, "w") as f:
            f.write(f"""base_dir = {root}/run
state_dir = {root}/lib
protocols = none
ssl = no
log_path = {root}/dovecot.log
disable_plaintext_auth = no
auth_mechanisms = plain
auth_failure_delay = 0
passdb {{
  driver = passwd-file
  args = {users}
}}
userdb {{
  driver = passwd-file
  args = {users}
}}
""")
        populate(self.inst)
        self.dovecot = subprocess.Popen(["dovecot", "-F", "-c", self.conf], stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL)
        self.addCleanup(self.stop_dovecot)
        deadline = time.time() + 30
        while not os.path.exists(os.path.join(root, "run", "auth-client")):
            self.assertIsNone(self.dovecot.poll(), "dovecot exited")
            self.assertLess(time.time(), deadline, "dovecot did not start")
            time.sleep(0.05)

    def stop_dovecot(self):
        subprocess.run(["doveadm", "-c", self.conf, "stop"], capture_output=True, timeout=30)
        try:
            self.dovecot.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.dovecot.kill()
            self.dovecot.wait()

    def auth(self, address, password):
        p = subprocess.run(["doveadm", "-c", self.conf, "auth", "test", address, password],
                           capture_output=True, text=True, timeout=30)
        return p.returncode == 0

    def wait_until(self, predicate, what, seconds=10):
        """Dovecot checks the file at most once a second: allow a few."""
        deadline = time.time() + seconds
        while not predicate():
            self.assertLess(time.time(), deadline, what)
            time.sleep(0.2)

    def test_right_wrong_and_disabled(self):
        self.assertTrue(self.auth("alice@example.com", "alice password"))
        self.assertFalse(self.auth("alice@example.com", "bob password"))
        self.assertFalse(self.auth("nobody@example.com", "alice password"))
        self.assertFalse(self.auth("bob@example.com", "bob password"), "a disabled user cannot log in")
        self.assertTrue(self.auth("dave@other.org", "dave password"))
        # The disabled user still resolves in the userdb (LMTP delivery), and
        # the quota reaches Dovecot as a quota rule.
        p = subprocess.run(["doveadm", "-c", self.conf, "user", "bob@example.com"], capture_output=True, text=True,
                           timeout=30)
        self.assertEqual(p.returncode, 0, p.stderr)
        p = subprocess.run(["doveadm", "-c", self.conf, "user", "alice@example.com"], capture_output=True,
                           text=True, timeout=30)
        self.assertIn("quota_rule\t*:bytes=1073741824", p.stdout)
        self.assertIn(os.path.join(self.inst.mail_dir, "example.com/alice"), p.stdout)
        # Enabling takes effect without restarting Dovecot.
        self.inst.vmail("user", "enable", "bob@example.com", check=0)
        self.wait_until(lambda: self.auth("bob@example.com", "bob password"), "enabled user never logged in")

    def test_two_password_changes_within_one_second(self):
        v = self.inst.vmail
        for attempt in range(10):
            self.assertTrue(self.auth("alice@example.com", "alice password"))  # Dovecot has read the file
            start = int(time.time())
            v("user", "passwd", "alice@example.com", "--password-stdin", input="first new pw\n", check=0)
            v("user", "passwd", "alice@example.com", "--password-stdin", input="second new pw\n", check=0)
            # Whether the check above also ran in that second is not known,
            # but both changes were: the case Dovecot's mtime check misses.
            if int(time.time()) == start:
                break
            v("user", "passwd", "alice@example.com", "--password-stdin", input="alice password\n", check=0)
            self.wait_until(lambda: self.auth("alice@example.com", "alice password"), "reset not seen")
        else:
            self.skipTest("could not fit two changes into one second")
        self.wait_until(lambda: self.auth("alice@example.com", "second new pw"), "second password never worked")
        self.assertFalse(self.auth("alice@example.com", "first new pw"))
        self.assertFalse(self.auth("alice@example.com", "alice password"))


class Atomicity(unittest.TestCase):
    def test_reader_never_misses_during_200_exports(self):
        for map_type in MAP_TYPES:
            with self.subTest(map_type=map_type):
                inst = Instance({"VMAIL_MAP_TYPE": map_type})
                self.addCleanup(inst.cleanup)
                populate(inst)
                stop = threading.Event()
                problems = []
                lookups = [0]
                cfg = os.path.join(inst.root, "data/state/postmap")

                def reader():
                    checks = (("alice@example.com", "vmailbox", "example.com/alice/Maildir/"),
                              ("alice@example.com", "virtual", "alice@example.com"),
                              ("sales@example.com", "sender_logins", "alice@example.com,bob@example.com"))
                    while not stop.is_set():
                        for key, name, want in checks:
                            p = subprocess.run(
                                ["postmap", "-c", cfg, "-q", key, f"{map_type}:{inst.postfix_dir}/{name}"],
                                capture_output=True, text=True, timeout=30)
                            lookups[0] += 1
                            if p.returncode != 0 or p.stdout != want + "\n" or p.stderr:
                                problems.append((name, p.returncode, p.stdout, p.stderr))

                t = threading.Thread(target=reader)
                t.start()
                try:
                    for i in range(100):  # 200 exports that rewrite every map
                        inst.vmail("user", "add", f"churn{i}@example.com", "--hash", HASH, check=0)
                        inst.vmail("user", "del", f"churn{i}@example.com", check=0)
                finally:
                    stop.set()
                    t.join(timeout=120)
                self.assertFalse(t.is_alive())
                self.assertEqual(problems[:5], [])
                self.assertGreater(lookups[0], 0)

    def test_readonly_folder_then_repair(self):
        inst = Instance()
        self.addCleanup(inst.cleanup)
        populate(inst)
        before = inst.exported_files()
        p = in_namespace_with_readonly(inst, inst.postfix_dir, "user", "add", "carol@example.com", "--hash", HASH)
        self.assertIn(p.returncode, (73, 74), p.stderr)
        lines = p.stderr.strip().splitlines()
        self.assertEqual(len(lines), 1, p.stderr)
        self.assertIn(inst.postfix_dir, lines[0])
        self.assertIn("Read-only file system", lines[0])
        # The change is kept; every old file is byte-identical (users too: all
        # files are staged before any is renamed).
        self.assertIn("carol@example.com", inst.vmail("user", "list", check=0).stdout)
        self.assertEqual(inst.exported_files(), before)
        check = inst.vmail("export", "--check")
        self.assertEqual(check.returncode, 1)
        for name in ("vmailbox", "virtual", "sender_logins"):
            self.assertIn(os.path.join(inst.postfix_dir, name), check.stdout)
        self.assertIn(os.path.join(inst.dovecot_dir, "users"), check.stdout)
        self.assertNotIn("vdomains", check.stdout)
        # The export itself into a read-only folder fails the same way.
        p = in_namespace_with_readonly(inst, inst.dovecot_dir, "export")
        self.assertIn(p.returncode, (73, 74), p.stderr)
        self.assertEqual(len(p.stderr.strip().splitlines()), 1, p.stderr)
        self.assertEqual(inst.exported_files(), before)
        # Writable again: export repairs.
        inst.vmail("export", check=0)
        inst.vmail("export", "--check", check=0)
        self.assertEqual(inst.postmap_q("carol@example.com", "vmailbox"), "example.com/carol/Maildir/")
        leftovers = [n for d in (inst.postfix_dir, inst.dovecot_dir) for n in os.listdir(d) if ".tmp" in n]
        self.assertEqual(leftovers, [])

    def test_unchanged_files_are_not_rewritten(self):
        inst = Instance()
        self.addCleanup(inst.cleanup)
        populate(inst)

        def stats():
            out = {}
            for d in (inst.postfix_dir, inst.dovecot_dir):
                for n in os.listdir(d):
                    st = os.stat(os.path.join(d, n))
                    out[n] = (st.st_ino, st.st_mtime_ns)
            return out

        before = stats()
        p = inst.vmail("export", check=0)
        self.assertIn("already up to date", p.stdout)
        self.assertEqual(stats(), before)
        # A quota change rewrites the users file only.
        inst.vmail("user", "quota", "alice@example.com", "2G", check=0)
        after = stats()
        changed = sorted(n for n in after if after[n] != before[n])
        self.assertEqual(changed, ["users"])

    def test_no_export_then_catch_up(self):
        inst = Instance()
        self.addCleanup(inst.cleanup)
        populate(inst)
        before = inst.exported_files()
        inst.vmail("--no-export", "user", "add", "erin@example.com", "--hash", HASH, check=0)
        inst.vmail("--no-export", "alias", "add", "team@example.com", "erin@example.com", check=0)
        self.assertEqual(inst.exported_files(), before)
        self.assertEqual(inst.vmail("export", "--check").returncode, 1)
        inst.vmail("export", check=0)
        inst.vmail("export", "--check", check=0)
        self.assertEqual(inst.postmap_q("team@example.com", "virtual"), "erin@example.com")


    def test_folder_in_the_way_fails_before_any_rename_then_repair(self):
        # Regression: a folder at vdomains.db made the export exit 73 with
        # three maps new and two files old.
        inst = Instance()
        self.addCleanup(inst.cleanup)
        populate(inst)
        db = os.path.join(inst.postfix_dir, "vdomains.db")
        os.unlink(db)
        os.mkdir(db)
        before = inst.exported_files()
        p = inst.vmail("user", "add", "carol@example.com", "--hash", HASH)
        self.assertEqual(p.returncode, 73, p.stderr)
        lines = p.stderr.strip().splitlines()
        self.assertEqual(len(lines), 1, p.stderr)
        self.assertIn(db, lines[0])
        self.assertEqual(inst.exported_files(), before)
        check = inst.vmail("export", "--check")
        self.assertEqual(check.returncode, 1)
        self.assertIn(os.path.join(inst.postfix_dir, "vdomains"), check.stdout)
        os.rmdir(db)
        inst.vmail("export", check=0)
        inst.vmail("export", "--check", check=0)
        self.assertEqual(inst.postmap_q("carol@example.com", "vmailbox"), "example.com/carol/Maildir/")
        self.assertEqual(inst.postmap_q("example.com", "vdomains"), "OK")

    def test_admin_files_that_start_like_a_temp_are_kept(self):
        # Regression: the stale-temp sweep matched by prefix. There is no
        # sweep now: each exported file has one fixed temp name, which only
        # the export lock's holder writes; a killed export's half-written temp
        # under that name is replaced by the next export, never renamed into
        # place, and nothing else in the folder is touched.
        inst = Instance()
        self.addCleanup(inst.cleanup)
        populate(inst)
        mine = [os.path.join(inst.postfix_dir, "virtual.tmpl"), os.path.join(inst.dovecot_dir, "users.tmpl"),
                os.path.join(inst.postfix_dir, "virtual.tmpAbC123")]
        for path in mine:
            with open(path, "w") as f:
                f.write("admin's template\n")
        junk = [os.path.join(inst.postfix_dir, "virtual.vmail.tmp"), os.path.join(inst.dovecot_dir, "users.vmail.tmp")]
        for path in junk:
            with open(path, "w") as f:
                f.write("carol@example.com half-writ")
        inst.vmail("user", "add", "carol@example.com", "--hash", HASH, check=0)
        for path in mine:
            self.assertTrue(os.path.exists(path), path)
        for path in junk:
            self.assertFalse(os.path.exists(path), path)
        self.assertEqual(inst.postmap_q("carol@example.com", "virtual"), "carol@example.com")
        inst.vmail("export", "--check", check=0)


class Lock(unittest.TestCase):
    def test_held_lock_fails_after_the_timeout(self):
        # Regression: the export lock was waited for forever (a hung postmap
        # hung every later command).
        import fcntl
        inst = Instance({"VMAIL_EXPORT_LOCK_TIMEOUT": "1"})
        self.addCleanup(inst.cleanup)
        populate(inst)
        lock_path = inst.db + ".export-lock"
        holder = subprocess.Popen(
            ["python3", "-c", "import fcntl,sys,time\n"
             "f=open(sys.argv[1],'a'); fcntl.flock(f, fcntl.LOCK_EX); print('held', flush=True); time.sleep(60)",
             lock_path], stdout=subprocess.PIPE, text=True)
        self.addCleanup(holder.stdout.close)
        self.addCleanup(holder.wait)
        self.addCleanup(holder.kill)
        self.assertEqual(holder.stdout.readline().strip(), "held")
        start = time.monotonic()
        p = inst.vmail("export")
        waited = time.monotonic() - start
        self.assertEqual(p.returncode, 75, p.stderr)
        lines = p.stderr.strip().splitlines()
        self.assertEqual(len(lines), 1, p.stderr)
        self.assertIn(lock_path, lines[0])
        self.assertGreaterEqual(waited, 1.0)
        self.assertLess(waited, 10)
        holder.kill()
        holder.wait()
        inst.vmail("export", check=0)


def dump_map(inst, name, map_type):
    """Every `key value` in the postmap database, sorted, as the text has them."""
    cfg = os.path.join(inst.root, "data/state/postmap")
    p = subprocess.run(["postmap", "-c", cfg, "-s", f"{map_type}:{os.path.join(inst.postfix_dir, name)}"],
                       capture_output=True, text=True, timeout=60, check=True)
    return sorted(line.replace("\t", " ", 1) for line in p.stdout.splitlines())


def text_map(inst, name):
    with open(os.path.join(inst.postfix_dir, name)) as f:
        return sorted(f.read().splitlines())


class Incremental(unittest.TestCase):
    """Small changes update a copy of the old database (postmap -i / -d)
    instead of rebuilding it; the result must equal the text every time."""

    def assert_maps_match_text(self, inst, map_type, context):
        for name in ("vmailbox", "virtual", "sender_logins"):
            self.assertEqual(dump_map(inst, name, map_type), text_map(inst, name), f"{name} after {context}")

    def test_database_equals_text_after_each_change(self):
        for map_type in ("hash", "lmdb"):
            with self.subTest(map_type=map_type):
                inst = Instance({"VMAIL_MAP_TYPE": map_type})
                self.addCleanup(inst.cleanup)
                populate(inst)
                for i in range(30):
                    inst.vmail("user", "add", f"bulk{i:02d}@example.com", "--hash", HASH, check=0)
                steps = [
                    ("user", "add", "carol@example.com", "--hash", HASH),
                    ("alias", "add", "team@example.com", "carol@example.com,alice@example.com"),
                    ("alias", "add", "team@example.com", "dave@other.org"),
                    ("alias", "del", "team@example.com", "alice@example.com"),
                    ("user", "del", "bulk07@example.com"),
                    ("alias", "del", "sales@example.com"),
                    ("user", "del", "carol@example.com"),
                    ("alias", "add", "@other.org", "dave@other.org"),
                ]
                for step in steps:
                    inst.vmail(*step, check=0)
                    self.assert_maps_match_text(inst, map_type, " ".join(step))
                    self.assertTrue(os.path.exists(os.path.join(inst.postfix_dir, "vmailbox.digest")))

    def test_crash_between_database_and_text_renames_forces_a_rebuild(self):
        # An export renames each database before its text. Killed in between,
        # the new database sits beside the old text; diffing the old text
        # against the next one would then miss what only the lost version
        # added. The digest written first makes the next export rebuild.
        inst = Instance()
        self.addCleanup(inst.cleanup)
        populate(inst)
        path = os.path.join(inst.postfix_dir, "vmailbox")
        with open(path) as f:
            old_text = f.read()
        inst.vmail("user", "add", "ghost@example.com", "--hash", HASH, check=0)
        with open(path, "w") as f:  # the text rename "never happened"
            f.write(old_text)
        self.assertEqual(inst.postmap_q("ghost@example.com", "vmailbox"), "example.com/ghost/Maildir/")
        inst.vmail("user", "del", "ghost@example.com", check=0)
        inst.vmail("user", "add", "carol@example.com", "--hash", HASH, check=0)
        self.assertIsNone(inst.postmap_q("ghost@example.com", "vmailbox"))
        self.assert_maps_match_text(inst, "hash", "a crash between renames")

    def test_tampered_digest_forces_a_rebuild(self):
        inst = Instance()
        self.addCleanup(inst.cleanup)
        populate(inst)
        with open(os.path.join(inst.postfix_dir, "virtual.digest"), "w") as f:
            f.write("hash 1 0\n")
        inst.vmail("user", "add", "carol@example.com", "--hash", HASH, check=0)
        self.assert_maps_match_text(inst, "hash", "a tampered digest")
        inst.vmail("export", "--check", check=0)


class HostileValues(InstanceTestCase):
    """No value that can reach a file adds a line or a field to it."""

    # Characters that end a field or a line in a passwd-file or a Postfix map
    # source, or change how Postfix parses it (NUL cannot reach argv at all).
    HOSTILE = ["x:y", "x\ny", "x y", "x\ry", "x\ty", "#x", " x", "x,y", "x\\y", "x\x01y"]

    def shape(self):
        """file -> list of field counts per line, for every exported source
        file; users lines also count their extra-field tokens."""
        out = {}
        for path, data in self.inst.exported_files().items():
            name = os.path.basename(path)
            if name != "users" and name not in MAPS:
                continue  # postmap databases
            text = data.decode()
            if name == "users":
                rows = []
                for line in text.splitlines():
                    parts = line.split(":", 7)
                    self.assertEqual(len(parts), 8, line)
                    for token in parts[7].split():
                        self.assertRegex(token, r"^(nologin|allow_nets=0\.0\.0\.0/32|userdb_quota_rule=\*:bytes=\d+)$")
                    rows.append((len(parts), len(parts[7].split())))
                out[name] = rows
            elif name in MAPS:
                for line in text.splitlines():
                    self.assertRegex(line, r"^[a-z0-9@][^\s#]* [^\s#]+$")
                out[name] = [len(l.split()) for l in text.splitlines()]
        return out

    def test_hostile_values_through_the_cli(self):
        v = self.inst.vmail
        populate(self.inst)
        shape = self.shape()
        self.assertEqual({k: len(rows) for k, rows in shape.items()},
                         {"users": 3, "vmailbox": 3, "virtual": 5, "vdomains": 2, "sender_logins": 4})
        before = self.inst.exported_files()
        cases = []  # (argv, may a value be accepted, command that undoes it)
        for bad in self.HOSTILE:
            cases += [
                (["user", "add", f"ev{bad}il@example.com", "--hash", HASH], False, None),
                (["user", "add", f"evil@exa{bad}mple.com", "--hash", HASH], False, None),
                (["user", "add", "evil@example.com", "--hash", HASH, "--quota", f"1{bad}G"], False, None),
                (["user", "quota", "alice@example.com", f"1{bad}"], False, None),
                (["alias", "add", "sales@example.com", f"ev{bad}il@x.org"], False, None),
                (["alias", "add", f"ev{bad}il@example.com", "alice@example.com"], False, None),
                (["alias", "add", f"@exa{bad}mple.com", "alice@example.com"], False, None),
                (["domain", "add", f"ev{bad}il.org"], False, None),
                # A hash or a name may hold some of these harmlessly ('#', ',');
                # accepted or not, the files keep their shape.
                (["user", "add", "evil@example.com", "--hash", HASH + bad], True,
                 ["user", "del", "evil@example.com"]),
                (["user", "passwd", "alice@example.com", "--hash", HASH + bad], True, None),
                (["user", "add", "evil@example.com", "--hash", HASH, "--name", f"Ev{bad}il"], True,
                 ["user", "del", "evil@example.com"]),
            ]
        for argv, may_pass, undo in cases:
            with self.subTest(argv=argv):
                p = v(*argv)
                if p.returncode == 0 and may_pass:
                    self.shape()  # asserts every line's shape
                    if undo:
                        v(*undo, check=0)
                    before = self.inst.exported_files()  # postmap databases differ byte-wise when rebuilt
                    continue
                self.assertEqual(p.returncode, 65, p.stderr)
                self.assertEqual(len(p.stderr.strip().splitlines()), 1, p.stderr)
                self.assertEqual(self.inst.exported_files(), before)
        self.assertEqual(self.shape(), shape)


if __name__ == "__main__":
    unittest.main()
