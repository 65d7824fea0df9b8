"""Root touches files like an attacker is watching (issue 22): vmail runs as
root beside users who own folders it writes into (opendkim owns the DKIM key
folders, the vmail uid owns every maildir, an admin may back up into a shared
folder). A symlink or a file planted there is never followed, chowned,
chmod'ed or written into. The real vmail against a real database; the
planting is what those users could do."""

import os
import pwd
import shutil
import stat
import unittest

from harness import InstanceTestCase


def mode(path):
    return stat.S_IMODE(os.lstat(path).st_mode)


class RootFiles(InstanceTestCase):
    def dkim_top(self):
        return os.path.join(self.inst.root, "data/state/dkim")

    def victim_folder(self):
        """A folder outside every vmail folder, as root left it."""
        victim = os.path.join(self.inst.root, "victim")
        os.mkdir(victim, 0o755)
        os.chmod(victim, 0o755)
        return victim

    def assert_untouched(self, victim):
        self.assertEqual(os.listdir(victim), [])
        st = os.lstat(victim)
        self.assertEqual((st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)), (0, 0, 0o755))

    def test_the_dkim_folder_is_roots_and_keys_belong_to_opendkim(self):
        self.inst.vmail("domain", "add", "example.com", check=0)
        top = os.lstat(self.dkim_top())
        self.assertEqual((top.st_uid, stat.S_IMODE(top.st_mode)), (0, 0o750))
        opendkim = pwd.getpwnam("opendkim")
        self.assertEqual(top.st_gid, opendkim.pw_gid)
        folder = os.path.join(self.dkim_top(), "example.com")
        self.assertEqual((os.lstat(folder).st_uid, mode(folder)), (opendkim.pw_uid, 0o700))
        for name in os.listdir(folder):
            path = os.path.join(folder, name)
            self.assertEqual((os.lstat(path).st_uid, mode(path)), (opendkim.pw_uid, 0o600))

    def test_a_dkim_folder_an_earlier_version_left_to_opendkim_becomes_roots(self):
        self.inst.vmail("domain", "add", "example.com", check=0)
        opendkim = pwd.getpwnam("opendkim")
        os.chown(self.dkim_top(), opendkim.pw_uid, opendkim.pw_gid)
        os.chmod(self.dkim_top(), 0o700)
        self.inst.vmail("domain", "dkim", "example.com", "--rotate", check=0)
        top = os.lstat(self.dkim_top())
        self.assertEqual((top.st_uid, stat.S_IMODE(top.st_mode)), (0, 0o750))

    def test_a_symlink_for_a_domains_dkim_folder_is_never_followed(self):
        self.inst.vmail("domain", "add", "example.com", check=0)
        victim = self.victim_folder()
        folder = os.path.join(self.dkim_top(), "example.com")
        shutil.rmtree(folder)
        os.symlink(victim, folder)
        p = self.inst.vmail("domain", "dkim", "example.com", "--rotate")
        self.assertEqual(p.returncode, 73, p.stderr)
        self.assertIn("symlink", p.stderr)
        self.assert_untouched(victim)
        # The same for a domain whose folder is made by `domain alias add`.
        os.symlink(victim, os.path.join(self.dkim_top(), "alias.example"))
        p = self.inst.vmail("domain", "alias", "add", "alias.example", "example.com")
        self.assertEqual(p.returncode, 73, p.stderr)
        self.assertIn("symlink", p.stderr)
        self.assert_untouched(victim)
        self.assertNotIn("alias.example", self.inst.vmail("domain", "list", check=0).stdout)
        # Another domain's keys are still written.
        self.inst.vmail("domain", "add", "other.example", check=0)
        self.assertTrue(os.listdir(os.path.join(self.dkim_top(), "other.example")))

    def test_a_symlink_for_a_key_file_is_replaced_not_written_through(self):
        self.inst.vmail("domain", "add", "example.com", check=0)
        outside = os.path.join(self.inst.root, "outside.txt")
        with open(outside, "w") as f:
            f.write("precious\n")
        os.chmod(outside, 0o644)
        folder = os.path.join(self.dkim_top(), "example.com")
        # opendkim owns its domain folder: it can plant links for the next
        # selectors (the date rule names them) and temp names.
        os.symlink(outside, os.path.join(folder, "planted2.private"))
        self.inst.vmail("domain", "dkim", "example.com", "--rotate", "--selector", "planted2", check=0)
        with open(outside) as f:
            self.assertEqual(f.read(), "precious\n")
        self.assertEqual((os.lstat(outside).st_uid, mode(outside)), (0, 0o644))
        key = os.path.join(folder, "planted2.private")
        self.assertTrue(stat.S_ISREG(os.lstat(key).st_mode))
        self.assertEqual(mode(key), 0o600)

    def test_vacation_never_follows_a_symlinked_home(self):
        self.inst.vmail("domain", "add", "example.test", check=0)
        self.inst.add_user("demo@example.test")
        home = os.path.join(self.inst.mail_dir, "example.test", "demo")
        self.assertTrue(os.path.isdir(home))
        victim = self.victim_folder()
        # The vmail uid owns the domain folder: it can swap the home for a link.
        shutil.rmtree(home)
        os.symlink(victim, home)
        message = os.path.join(self.inst.root, "away.txt")
        with open(message, "w") as f:
            f.write("I am away.\n")
        p = self.inst.vmail("user", "vacation", "demo@example.test", "--subject", "Away", "--message-file", message)
        self.assertEqual(p.returncode, 73, p.stderr)
        self.assertIn("symlink", p.stderr)
        self.assert_untouched(victim)
        # --off removes nothing through the link either.
        planted = os.path.join(victim, ".vmail-vacation.sieve")
        with open(planted, "w") as f:
            f.write("keep\n")
        os.chmod(planted, 0o644)
        p = self.inst.vmail("user", "vacation", "demo@example.test", "--off")
        self.assertNotEqual(p.returncode, 0)
        self.assertTrue(os.path.exists(planted))

    def test_vacation_script_in_a_real_home_belongs_to_the_vmail_uid(self):
        self.inst.vmail("domain", "add", "example.test", check=0)
        self.inst.add_user("demo@example.test")
        home = os.path.join(self.inst.mail_dir, "example.test", "demo")
        message = os.path.join(self.inst.root, "away.txt")
        with open(message, "w") as f:
            f.write("I am away.\n")
        self.inst.vmail("user", "vacation", "demo@example.test", "--subject", "Away", "--message-file", message,
                        check=0)
        script = os.path.join(home, ".vmail-vacation.sieve")
        st = os.lstat(script)
        self.assertEqual((st.st_uid, stat.S_IMODE(st.st_mode)), (os.lstat(home).st_uid, 0o600))
        self.inst.vmail("user", "vacation", "demo@example.test", "--off", check=0)
        self.assertFalse(os.path.exists(script))

    def test_db_backup_never_writes_into_a_file_someone_else_made(self):
        self.inst.vmail("domain", "add", "example.test", check=0)
        self.inst.add_user("demo@example.test")
        shared = os.path.join(self.inst.root, "shared")
        os.mkdir(shared)
        os.chmod(shared, 0o1777)
        target = os.path.join(shared, "backup.db")
        # Another user of the shared folder plants files under every name
        # the backup could use for its temp file and keeps them open.
        with open("/proc/sys/kernel/ns_last_pid") as f:
            last = int(f.read())
        planted = []
        for pid in range(last + 1, last + 400):
            path = f"{target}.tmp{pid}"
            fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o666)
            os.fchmod(fd, 0o666)
            planted.append(fd)
        self.addCleanup(lambda: [os.close(fd) for fd in planted])
        self.inst.vmail("db", "backup", target, check=0)
        leaked = [fd for fd in planted if os.fstat(fd).st_size > 0]
        self.assertEqual(leaked, [], "the backup was written into a planted file")
        self.assertEqual((os.lstat(target).st_uid, mode(target)), (0, 0o600))
        with open(target, "rb") as f:
            self.assertEqual(f.read(16), b"SQLite format 3\x00")


if __name__ == "__main__":
    unittest.main()
