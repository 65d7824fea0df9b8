// The NSS module loaded with dlopen(), the way glibc loads it, and called
// through its exported entry points: many threads at once, short buffers,
// enumeration, a writer committing meanwhile, no database, a busy database.
// A separate program (not the unit-test binary) because it needs the built
// module; it runs in the sanitizer pass too.
#include <aliases.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <nss.h>
#include <pwd.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <filesystem>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "core/database.h"
#include "core/store.h"
#include "tests/test_util.h"

namespace vmail {
namespace {

struct Module {
  void* handle = nullptr;
  nss_getpwnam_r* getpwnam_r = nullptr;
  nss_setpwent* setpwent = nullptr;
  nss_getpwent_r* getpwent_r = nullptr;
  nss_endpwent* endpwent = nullptr;
  nss_getaliasbyname_r* getaliasbyname_r = nullptr;
  nss_setaliasent* setaliasent = nullptr;
  nss_getaliasent_r* getaliasent_r = nullptr;
  nss_endaliasent* endaliasent = nullptr;
};

template <class F>
void bind(void* handle, const char* name, F** out) {
  *out = reinterpret_cast<F*>(dlsym(handle, name));
  ASSERT_NE(*out, nullptr) << name << ": " << dlerror();
}

// Loaded once and never closed, as glibc does with NSS modules.
const Module& module() {
  static Module loaded = [] {
    Module m;
    m.handle = dlopen(VMAIL_NSS_MODULE, RTLD_NOW | RTLD_LOCAL);
    if (m.handle == nullptr) return m;
    bind(m.handle, "_nss_vmail_getpwnam_r", &m.getpwnam_r);
    bind(m.handle, "_nss_vmail_setpwent", &m.setpwent);
    bind(m.handle, "_nss_vmail_getpwent_r", &m.getpwent_r);
    bind(m.handle, "_nss_vmail_endpwent", &m.endpwent);
    bind(m.handle, "_nss_vmail_getaliasbyname_r", &m.getaliasbyname_r);
    bind(m.handle, "_nss_vmail_setaliasent", &m.setaliasent);
    bind(m.handle, "_nss_vmail_getaliasent_r", &m.getaliasent_r);
    bind(m.handle, "_nss_vmail_endaliasent", &m.endaliasent);
    return m;
  }();
  return loaded;
}

constexpr int kUsers = 100;

std::string local_of(int i) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "u%03d", i);
  return buf;
}

class NssModuleTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_NE(module().handle, nullptr) << dlerror();
    db_path_ = dir_.path() + "/vmail.db";
    auto db = Database::open_migrated(db_path_);
    ASSERT_TRUE(db.ok()) << db.status().message();
    Store store(**db);
    ASSERT_TRUE(store.add_domain("example.com").ok());
    for (int i = 0; i < kUsers; ++i) {
      User u;
      u.local = local_of(i);
      u.domain = "example.com";
      u.address = u.local + "@example.com";
      u.name = "User " + std::to_string(i);
      u.password = "{SHA512-CRYPT}$6$x$y";
      ASSERT_TRUE(store.add_user(u).ok());
    }
    auto sales = parse_alias_source("sales@example.com");
    ASSERT_TRUE(store.add_alias(*sales, {"u001@example.com", "boss@other.org"}).ok());
    auto all = parse_alias_source("@example.com");
    ASSERT_TRUE(store.add_alias(*all, {"u000@example.com"}).ok());
    (*db)->sql().exec(
        "INSERT INTO settings (name, value) VALUES ('VMAIL_MAIL_DIR', '/srv/mail'), ('VMAIL_UID', '6001')");
    // Closing the only connection removes the -wal: lookups take the immutable path.
    (*db).reset();
    for (const char* name : {"VMAIL_ROOT", "VMAIL_STATE_DIR", "VMAIL_MAIL_DIR", "VMAIL_UID", "VMAIL_GID"}) {
      unsetenv(name);
    }
    setenv("VMAIL_DB", db_path_.c_str(), 1);
  }

  testing::TempDir dir_;
  std::string db_path_;
};

// Looks one user up through the module; "" on success, else what was wrong.
std::string check_user(const Module& m, int i, bool upper) {
  std::string key = local_of(i) + (upper ? "@EXAMPLE.Com" : "@example.com");
  passwd pw{};
  char buf[512];
  int err = 0;
  nss_status st = m.getpwnam_r(key.c_str(), &pw, buf, sizeof buf, &err);
  if (st != NSS_STATUS_SUCCESS) return key + ": status " + std::to_string(st) + " errno " + std::to_string(err);
  std::string want_name = local_of(i) + "@example.com";
  std::string want_dir = "/srv/mail/example.com/" + local_of(i);
  if (want_name != pw.pw_name || want_dir != pw.pw_dir || std::string("User ") + std::to_string(i) != pw.pw_gecos ||
      pw.pw_uid != 6001 || pw.pw_gid != 5000 || std::strcmp(pw.pw_shell, "/usr/sbin/nologin") != 0 ||
      std::strcmp(pw.pw_passwd, "x") != 0) {
    return key + ": wrong entry " + pw.pw_name + " " + pw.pw_dir;
  }
  return "";
}

TEST_F(NssModuleTest, SixteenThreadsTenThousandLookupsEach) {
  const Module& m = module();
  std::atomic<int> failures{0};
  std::atomic<int> not_found_ok{0};
  std::vector<std::string> first_error(16);
  std::vector<std::thread> threads;
  for (int t = 0; t < 16; ++t) {
    threads.emplace_back([&, t] {
      for (int n = 0; n < 10000; ++n) {
        if (n % 10 == 9) {
          passwd pw{};
          char buf[256];
          int err = 0;
          if (m.getpwnam_r("nobody@example.com", &pw, buf, sizeof buf, &err) == NSS_STATUS_NOTFOUND && err == ENOENT) {
            ++not_found_ok;
          } else {
            ++failures;
          }
          continue;
        }
        std::string why = check_user(m, (t * 7 + n) % kUsers, n % 2 == 0);
        if (!why.empty()) {
          if (first_error[t].empty()) first_error[t] = why;
          ++failures;
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  for (const auto& e : first_error) EXPECT_EQ(e, "");
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(not_found_ok.load(), 16 * 1000);
}

TEST_F(NssModuleTest, LookupsSeeCommitsOfAConcurrentWriter) {
  const Module& m = module();
  auto db = Database::open(db_path_, Database::Mode::kReadWrite);
  ASSERT_TRUE(db.ok()) << db.status().message();
  std::atomic<bool> stop{false};
  std::atomic<int> failures{0};
  std::vector<std::thread> readers;
  for (int t = 0; t < 8; ++t) {
    readers.emplace_back([&, t] {
      for (int n = 0; !stop.load() || n < 200; ++n) {
        if (!check_user(m, (t + n) % kUsers, false).empty()) ++failures;
      }
    });
  }
  // Commit users one by one; each must be visible right after its commit.
  for (int i = 0; i < 50; ++i) {
    std::string local = "new" + std::to_string(i);
    Status s = (*db)->write([&] {
      (*db)->sql().exec("INSERT INTO users (domain_id, local, address, password) VALUES (1, '" + local + "', '" +
                        local + "@example.com', '{SHA512-CRYPT}$6$x$y')");
      return Status::Ok();
    });
    ASSERT_TRUE(s.ok()) << s.message();
    passwd pw{};
    char buf[512];
    int err = 0;
    EXPECT_EQ(m.getpwnam_r((local + "@example.com").c_str(), &pw, buf, sizeof buf, &err), NSS_STATUS_SUCCESS) << local;
  }
  stop = true;
  for (auto& th : readers) th.join();
  EXPECT_EQ(failures.load(), 0);
}

TEST_F(NssModuleTest, ShortBufferIsErangeThenTheRightSizeWorks) {
  const Module& m = module();
  std::string key = "u042@example.com";
  // name, "x", gecos, dir, shell, each with its NUL.
  size_t need = key.size() + 1 + 2 + std::strlen("User 42") + 1 + std::strlen("/srv/mail/example.com/u042") + 1 +
                std::strlen("/usr/sbin/nologin") + 1;
  std::vector<char> buf(need);
  for (size_t len = 0; len < need; ++len) {
    passwd pw{};
    int err = 0;
    ASSERT_EQ(m.getpwnam_r(key.c_str(), &pw, len == 0 ? nullptr : buf.data(), len, &err), NSS_STATUS_TRYAGAIN) << len;
    ASSERT_EQ(err, ERANGE) << len;
  }
  passwd pw{};
  int err = 0;
  ASSERT_EQ(m.getpwnam_r(key.c_str(), &pw, buf.data(), need, &err), NSS_STATUS_SUCCESS);
  EXPECT_STREQ(pw.pw_dir, "/srv/mail/example.com/u042");

  aliasent al{};
  char tiny[8];
  ASSERT_EQ(m.getaliasbyname_r("sales@example.com", &al, tiny, sizeof tiny, &err), NSS_STATUS_TRYAGAIN);
  EXPECT_EQ(err, ERANGE);
  alignas(8) char big[256];
  ASSERT_EQ(m.getaliasbyname_r("Sales@Example.com", &al, big + 1, sizeof big - 1, &err), NSS_STATUS_SUCCESS);
  EXPECT_STREQ(al.alias_name, "sales@example.com");
  ASSERT_EQ(al.alias_members_len, 2u);
  EXPECT_STREQ(al.alias_members[0], "u001@example.com");
  EXPECT_STREQ(al.alias_members[1], "boss@other.org");
  ASSERT_EQ(m.getaliasbyname_r("@example.com", &al, big, sizeof big, &err), NSS_STATUS_SUCCESS);
  EXPECT_STREQ(al.alias_members[0], "u000@example.com");
}

TEST_F(NssModuleTest, EnumerationSurvivesShortBuffers) {
  const Module& m = module();
  ASSERT_EQ(m.setpwent(0), NSS_STATUS_SUCCESS);
  std::vector<std::string> names;
  for (int guard = 0; guard < 1000; ++guard) {
    passwd pw{};
    char small[16];
    char buf[512];
    int err = 0;
    // Every other call first offers a buffer too small: the entry must not be skipped.
    if (guard % 2 == 0) {
      nss_status st = m.getpwent_r(&pw, small, sizeof small, &err);
      if (st == NSS_STATUS_NOTFOUND) break;
      ASSERT_EQ(st, NSS_STATUS_TRYAGAIN);
      ASSERT_EQ(err, ERANGE);
    }
    nss_status st = m.getpwent_r(&pw, buf, sizeof buf, &err);
    if (st == NSS_STATUS_NOTFOUND) break;
    ASSERT_EQ(st, NSS_STATUS_SUCCESS);
    names.push_back(pw.pw_name);
  }
  m.endpwent();
  ASSERT_EQ(names.size(), static_cast<size_t>(kUsers));
  for (int i = 0; i < kUsers; ++i) EXPECT_EQ(names[i], local_of(i) + "@example.com");

  ASSERT_EQ(m.setaliasent(), NSS_STATUS_SUCCESS);
  std::vector<std::string> sources;
  while (true) {
    aliasent al{};
    char buf[512];
    int err = 0;
    if (m.getaliasent_r(&al, buf, sizeof buf, &err) != NSS_STATUS_SUCCESS) break;
    sources.push_back(al.alias_name);
  }
  m.endaliasent();
  EXPECT_EQ(sources, (std::vector<std::string>{"@example.com", "sales@example.com"}));
}

TEST_F(NssModuleTest, ConcurrentEnumerationsShareOneCursorSafely) {
  const Module& m = module();
  std::atomic<int> entries{0};
  std::atomic<int> bad{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      for (int round = 0; round < 20; ++round) {
        m.setpwent(0);
        while (true) {
          passwd pw{};
          char buf[512];
          int err = 0;
          nss_status st = m.getpwent_r(&pw, buf, sizeof buf, &err);
          if (st == NSS_STATUS_NOTFOUND) break;
          if (st != NSS_STATUS_SUCCESS || std::strchr(pw.pw_name, '@') == nullptr) {
            ++bad;
            break;
          }
          ++entries;
        }
        m.endpwent();
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(bad.load(), 0);
  EXPECT_GT(entries.load(), 0);
}

TEST_F(NssModuleTest, NoDatabaseIsUnavailable) {
  const Module& m = module();
  std::string missing = dir_.path() + "/missing/vmail.db";
  setenv("VMAIL_DB", missing.c_str(), 1);
  passwd pw{};
  aliasent al{};
  char buf[512];
  int err = 0;
  EXPECT_EQ(m.getpwnam_r("u001@example.com", &pw, buf, sizeof buf, &err), NSS_STATUS_UNAVAIL);
  EXPECT_EQ(m.getaliasbyname_r("sales@example.com", &al, buf, sizeof buf, &err), NSS_STATUS_UNAVAIL);
  EXPECT_EQ(m.setpwent(0), NSS_STATUS_UNAVAIL);
  EXPECT_EQ(m.getpwent_r(&pw, buf, sizeof buf, &err), NSS_STATUS_UNAVAIL);
  m.endpwent();
  EXPECT_FALSE(std::filesystem::exists(dir_.path() + "/missing")) << "the module must create nothing";
  // A key that is no address is simply not found, without looking.
  EXPECT_EQ(m.getpwnam_r("root", &pw, buf, sizeof buf, &err), NSS_STATUS_NOTFOUND);
  setenv("VMAIL_DB", db_path_.c_str(), 1);
}

TEST_F(NssModuleTest, BusyDatabaseIsTryAgain) {
  const Module& m = module();
  // A writer in exclusive locking mode keeps every reader out.
  sqlite3* w = nullptr;
  ASSERT_EQ(sqlite3_open(db_path_.c_str(), &w), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(w, "PRAGMA locking_mode=EXCLUSIVE; BEGIN IMMEDIATE; UPDATE users SET name = 'x' WHERE id = 1",
                         nullptr, nullptr, nullptr),
            SQLITE_OK);
  passwd pw{};
  char buf[512];
  int err = 0;
  EXPECT_EQ(m.getpwnam_r("u001@example.com", &pw, buf, sizeof buf, &err), NSS_STATUS_TRYAGAIN);
  EXPECT_EQ(err, EAGAIN);
  sqlite3_exec(w, "ROLLBACK", nullptr, nullptr, nullptr);
  sqlite3_close(w);
  EXPECT_EQ(m.getpwnam_r("u001@example.com", &pw, buf, sizeof buf, &err), NSS_STATUS_SUCCESS);
}

TEST_F(NssModuleTest, DescriptorsAreCloseOnExec) {
  const Module& m = module();
  ASSERT_EQ(check_user(m, 1, false), "");
  int seen = 0;
  for (const auto& fd : std::filesystem::directory_iterator("/proc/self/fd")) {
    std::error_code ec;
    std::string target = std::filesystem::read_symlink(fd.path(), ec).string();
    if (ec || target.rfind(db_path_, 0) != 0) continue;
    ++seen;
    int flags = fcntl(std::stoi(fd.path().filename().string()), F_GETFD);
    EXPECT_TRUE(flags >= 0 && (flags & FD_CLOEXEC) != 0) << target;
  }
  EXPECT_GT(seen, 0) << "the lookup keeps its connection open";
}

TEST_F(NssModuleTest, ChildOfForkUsesItsOwnConnection) {
  const Module& m = module();
  ASSERT_EQ(check_user(m, 1, false), "");  // the parent's cached connection
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) _exit(check_user(m, 2, true).empty() && check_user(m, 3, false).empty() ? 0 : 1);
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  EXPECT_EQ(check_user(m, 4, false), "");
}

}  // namespace
}  // namespace vmail
