#include "launch/prepare.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <openssl/rand.h>
#include <spdlog/spdlog.h>
#include <sqlite3.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <optional>

#include "core/accounts.h"
#include "core/database.h"
#include "core/files.h"
#include "core/process.h"
#include "core/settings_table.h"
#include "core/store.h"
#include "dkim/keygen.h"
#include "exporters/exported_files.h"
#include "launch/config.h"
#include "launch/key_safety.h"
#include "pg/replica.h"

namespace vmail {
namespace {

std::string errno_text() { return std::strerror(errno); }

// make_dirs applies one mode to every folder it creates; here the parents
// stay searchable (0755) and only the leaf gets `mode`.
Status make_leaf_dir(const std::string& path, mode_t mode) {
  auto slash = path.rfind('/');
  if (slash != std::string::npos && slash > 0) {
    if (Status s = make_dirs(path.substr(0, slash), 0755); !s.ok()) return s;
  }
  return make_dirs(path, mode);
}

// Through the folder's descriptor (files.h): the folder itself may belong
// to the user it is given to, who could otherwise swap it for a symlink.
Status set_owner_mode(const std::string& path, uid_t uid, gid_t gid, mode_t mode) {
  return set_dir_owner_mode(path, uid, gid, mode);
}

// The first folder above `path` that others cannot search, or "".
std::string unsearchable_parent(const std::string& path) {
  std::string p = path;
  while (true) {
    auto slash = p.rfind('/');
    if (slash == std::string::npos || slash == 0) return "";
    p.resize(slash);
    struct stat st;
    if (::stat(p.c_str(), &st) == 0 && (st.st_mode & S_IXOTH) == 0) return p;
  }
}

std::string timestamp() {
  char buf[32];
  time_t now = time(nullptr);
  struct tm tm;
  gmtime_r(&now, &tm);
  strftime(buf, sizeof buf, "%Y%m%d-%H%M%S", &tm);
  return buf;
}

// The values of the settings the table marks as recorded
// (core/settings_table.h): the export settings, the listening address and
// ports (for `vmail health`), the server name (for `vmail domain dns`).
Result<std::map<std::string, std::string>> recorded_values(const LaunchSettings& launch) {
  auto known = recordable(launch.base);
  for (const auto& [name, value] : recordable_endpoints(launch.endpoints)) known[name] = value;
  known["MAIL_SERVER_NAME"] = launch.server_name;
  std::map<std::string, std::string> values;
  for (const std::string& name : recorded_setting_names()) {
    auto it = known.find(name);
    if (it == known.end()) {
      return Status(Code::kInternal, "setting " + name + ": recorded, but the launcher has no value");
    }
    values[name] = it->second;
  }
  return values;
}

// OpenDKIM's socket folder belongs to opendkim with group postfix: Postfix's
// smtpd and cleanup reach the socket, other users do not.
Status prepare_opendkim_dirs(const LaunchSettings& launch, gid_t postfix_gid) {
  auto opendkim = user_by_name("opendkim");
  if (!opendkim) return Status(Code::kConfig, "user opendkim: missing (is OpenDKIM installed?)");
  if (Status st = make_leaf_dir(launch.opendkim_run_dir, 0750); !st.ok()) return st;
  return set_owner_mode(launch.opendkim_run_dir, opendkim->uid, postfix_gid, 0750);
}

// vmail-milter runs as postfix (it reads only the world-readable
// sender_logins and answers Postfix): its socket folder is postfix's alone.
Status prepare_milter_dir(const LaunchSettings& launch, const UserIds& postfix) {
  if (Status st = make_leaf_dir(launch.milter_run_dir, 0750); !st.ok()) return st;
  return set_owner_mode(launch.milter_run_dir, postfix.uid, postfix.gid, 0750);
}

// The spam layer's folders: each daemon's data on the state volume, owned
// by the user it runs as (Redis and rspamd's workers could otherwise not
// write, postgrey its Berkeley DB); rspamd's rendered configuration stays
// root's. Nothing when VMAIL_SPAM=off (what an earlier start left is kept).
Status prepare_spam_dirs(const LaunchSettings& launch) {
  if (!launch.endpoints.spam) return Status::Ok();
  for (const auto& dir :
       {launch.rspamd_dir, launch.rspamd_dir + "/local.d", launch.rspamd_dir + "/override.d", launch.redis_dir}) {
    if (Status st = make_dirs(dir, 0755); !st.ok()) return st;
  }
  struct Owned {
    std::string dir;
    const char* user;
  };
  std::vector<Owned> owned = {
      {launch.redis_data_dir, "redis"}, {launch.rspamd_db_dir, "_rspamd"}, {launch.rspamd_run_dir, "_rspamd"}};
  if (launch.endpoints.greylist) owned.push_back({launch.postgrey_db_dir, "postgrey"});
  for (const auto& [dir, user] : owned) {
    auto account = user_by_name(user);
    if (!account) {
      return Status(Code::kConfig, std::string("user ") + user +
                                       ": missing (are redis-server, rspamd and postgrey installed? VMAIL_SPAM=off "
                                       "turns them off)");
    }
    if (Status st = make_leaf_dir(dir, 0750); !st.ok()) return st;
    if (Status st = set_owner_mode(dir, account->uid, account->gid, 0750); !st.ok()) return st;
  }
  return Status::Ok();
}

}  // namespace

Status lock_instance(const LaunchSettings& launch) {
  if (Status s = make_dirs(launch.base.state_dir, 0755); !s.ok()) return s;
  int fd = ::open(launch.lock_file.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) return Status(Code::kCantCreate, launch.lock_file + ": " + errno_text());
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    char buf[32] = {};
    ssize_t n = ::pread(fd, buf, sizeof buf - 1, 0);
    std::string pid = n > 0 ? std::string(buf, static_cast<size_t>(n)) : "?";
    while (!pid.empty() && (pid.back() == '\n' || pid.back() == ' ')) pid.pop_back();
    ::close(fd);
    return Status(Code::kConfig,
                  "another vmail-launch (pid " + pid + ") already runs on this VMAIL_ROOT (" + launch.lock_file + ")");
  }
  std::string pid = std::to_string(getpid()) + "\n";
  if (::ftruncate(fd, 0) != 0 || ::pwrite(fd, pid.data(), pid.size(), 0) != static_cast<ssize_t>(pid.size())) {
    ::close(fd);
    return Status(Code::kCantCreate, launch.lock_file + ": " + errno_text());
  }
  // The descriptor stays open (and locked) for the life of the process.
  return Status::Ok();
}

Status ensure_vmail_account(uint32_t uid, uint32_t gid) {
  if (uid == 0 || gid == 0) return Status(Code::kConfig, "VMAIL_UID/VMAIL_GID: must not be 0 (root)");
  if (!group_exists(gid)) {
    std::string name = group_by_name("vmail").has_value() ? "vmail" + std::to_string(gid) : "vmail";
    auto r = run_process({"groupadd", "-g", std::to_string(gid), name});
    // Another launcher may have created it meanwhile: look again before failing.
    if ((!r.ok() || r->exit_code != 0) && !group_exists(gid)) {
      return Status(Code::kConfig, "VMAIL_GID " + std::to_string(gid) + ": cannot create group " + name + ": " +
                                       (r.ok() ? r->output.substr(0, r->output.find('\n')) : r.status().message()));
    }
  }
  if (!user_exists(uid)) {
    std::string name = user_by_name("vmail").has_value() ? "vmail" + std::to_string(uid) : "vmail";
    auto r = run_process({"useradd", "-u", std::to_string(uid), "-g", std::to_string(gid), "-M", "-N", "-d",
                          "/nonexistent", "-s", "/usr/sbin/nologin", "-c", "vmail mailboxes", name});
    if ((!r.ok() || r->exit_code != 0) && !user_exists(uid)) {
      return Status(Code::kConfig, "VMAIL_UID " + std::to_string(uid) + ": cannot create user " + name + ": " +
                                       (r.ok() ? r->output.substr(0, r->output.find('\n')) : r.status().message()));
    }
  }
  return Status::Ok();
}

Status prepare_dirs(const LaunchSettings& launch, std::vector<std::string>* warnings) {
  const Settings& s = launch.base;
  for (const auto& dir : {s.state_dir, s.postfix_dir, s.dovecot_dir, s.dovecot_dir + "/conf.d", launch.queue_dir,
                          launch.dovecot_base_dir, launch.cert_dir}) {
    if (Status st = make_dirs(dir, 0755); !st.ok()) return st;
  }
  if (Status st = make_leaf_dir(launch.dovecot_state_dir, 0750); !st.ok()) return st;
  if (Status st = make_leaf_dir(s.mail_dir, 0750); !st.ok()) return st;
  // Dovecot delivers and reads as the vmail user.
  if (Status st = set_owner_mode(s.mail_dir, s.uid, s.gid, 0750); !st.ok()) return st;
  if (Status st = make_leaf_dir(launch.postfix_data_dir, 0700); !st.ok()) return st;
  auto postfix = user_by_name("postfix");
  if (!postfix) return Status(Code::kConfig, "user postfix: missing (is Postfix installed?)");
  if (Status st = set_owner_mode(launch.postfix_data_dir, postfix->uid, postfix->gid, 0700); !st.ok()) return st;
  if (!user_by_name("dovecot") || !user_by_name("dovenull")) {
    return Status(Code::kConfig, "users dovecot/dovenull: missing (is Dovecot installed?)");
  }
  // The exported files' folders, and the files whose reader will not start
  // without them (OpenDKIM's tables, empty: nothing to sign yet), from the
  // table (exporters/exported_files.h).
  if (Status st = prepare_export_files(s); !st.ok()) return st;
  if (Status st = prepare_opendkim_dirs(launch, postfix->gid); !st.ok()) return st;
  if (Status st = prepare_milter_dir(launch, *postfix); !st.ok()) return st;
  if (Status st = prepare_spam_dirs(launch); !st.ok()) return st;
  if (warnings) {
    for (const auto& dir : {launch.queue_dir, s.mail_dir}) {
      std::string p = unsearchable_parent(dir);
      if (!p.empty()) {
        warnings->push_back(p + ": others cannot search this folder, so Postfix and Dovecot cannot reach " + dir +
                            " (chmod o+x)");
      }
    }
  }
  return Status::Ok();
}

namespace {

// Postfix's queues of messages and their delivery logs (not its sockets,
// pids or flush logs, which it makes again).
constexpr const char* kQueueFolders[] = {"maildrop", "incoming", "active", "deferred", "hold",
                                         "corrupt",  "defer",    "bounce", "trace"};

// True when `dir` holds at least one file, at any depth.
bool holds_files(const std::string& dir) {
  std::error_code ec;
  for (std::filesystem::recursive_directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    if (it->is_regular_file(ec)) return true;
  }
  return false;
}

// The folders of kQueueFolders under `queue` that hold mail.
std::vector<std::string> folders_with_mail(const std::string& queue) {
  std::vector<std::string> out;
  for (const char* sub : kQueueFolders) {
    if (holds_files(queue + "/" + sub)) out.push_back(sub);
  }
  return out;
}

}  // namespace

std::string adopt_legacy_queue(const LaunchSettings& launch) {
  const std::string legacy = launch.base.rooted("/var/spool/postfix");
  if (legacy == launch.queue_dir) return "";
  std::vector<std::string> folders = folders_with_mail(legacy);
  if (folders.empty() || !folders_with_mail(launch.queue_dir).empty()) return "";
  std::string names;
  auto queue = Dir::open(launch.queue_dir);
  if (!queue.ok()) return queue.status().message();
  for (const auto& sub : folders) {
    std::string from = legacy + "/" + sub, to = launch.queue_dir + "/" + sub;
    // The queue folders belong to postfix: removed by descriptor, never
    // following a symlink (files.h). They hold no mail: checked above.
    if (Status s = queue->remove_tree(sub); !s.ok()) return s.message();
    // Both parents are root's (the queue directories themselves), so the
    // names cannot be swapped under this rename.
    if (::rename(from.c_str(), to.c_str()) != 0) {
      return legacy + ": holds queued mail but cannot be moved to " + launch.queue_dir + " (" + errno_text() +
             "); stop vmail-launch and move its queue folders there by hand";
    }
    names += (names.empty() ? "" : ", ") + sub;
  }
  return legacy + ": queued mail of an earlier version moved to " + launch.queue_dir + " (" + names + ")";
}

Result<std::string> repair_queue_owner(const LaunchSettings& launch) {
  auto postfix = user_by_name("postfix");
  if (!postfix) return Status(Code::kConfig, "user postfix: missing (is Postfix installed?)");
  bool stranded = false;
  for (const char* sub : {"active", "deferred", "incoming", "hold", "defer", "private"}) {
    struct stat st;
    std::string dir = launch.queue_dir + "/" + sub;
    if (::lstat(dir.c_str(), &st) == 0 && st.st_uid != postfix->uid) stranded = true;
  }
  if (!stranded) return std::string();
  auto r = run_process({"postfix", "-c", launch.base.postfix_dir, "set-permissions"}, daemon_environment());
  if (!r.ok()) return r.status();
  if (r->exit_code != 0) {
    return Status(Code::kConfig, launch.queue_dir +
                                     ": queue owned by another uid and postfix set-permissions failed: " +
                                     r->output.substr(0, r->output.find('\n')));
  }
  return launch.queue_dir + ": queue files belonged to another uid; ownership repaired for postfix (uid " +
         std::to_string(postfix->uid) + ")";
}

namespace {

// Domains made before DKIM keys existed (schema 5 and older, the volume of
// an earlier version) get their RSA key at the first start that can sign, so
// an upgrade signs every domain without a `vmail domain dkim --rotate` each.
Status add_missing_dkim_keys(const LaunchSettings& launch, Store& store) {
  auto domains = store.list_domains();
  if (!domains.ok()) return domains.status();
  for (const DomainInfo& d : *domains) {
    auto keys = store.list_dkim_keys(d.name);
    if (!keys.ok()) return keys.status();
    bool has_rsa = std::any_of(keys->begin(), keys->end(), [](const DkimKey& k) {
      return k.algorithm == DkimAlgorithm::kRsa && k.state == DkimState::kActive;
    });
    if (has_rsa) continue;
    auto fresh = new_domain_keys(launch.base, process_env(), std::time(nullptr));
    if (!fresh.ok()) return fresh.status();
    auto added = store.add_dkim_keys(d.name, *fresh, false);
    if (!added.ok()) return added.status();
    for (const DkimKey& k : *added) spdlog::info("DKIM key {} created for {}, which had none", k.selector, d.name);
  }
  return Status::Ok();
}

// With a PostgreSQL VMAIL_DB: migrates the shared store, brings the replica
// up to date (and this node's DKIM key files), and makes the launcher's own
// writes go through the shared store. True when that worked; false when the
// store is unreachable but the replica has followed it before (the node
// serves from the replica, the follower catches up later); kBusy (75) when
// unreachable and the replica is new: there is nothing to serve yet.
Result<bool> follow_upstream(const LaunchSettings& launch, Database& replica) {
  auto joined = pg::join_shared_store(launch.base, replica);
  if (joined.ok()) {
    spdlog::info("replica at change {} of {}", joined->caught.seq, joined->conn->name());
    return true;
  }
  const Status& st = joined.status();
  if (st.code() != Code::kBusy) return st;
  auto seq = pg::replica_seq(replica);
  if (!seq.ok()) return seq.status();
  if (*seq == 0) return Status(Code::kBusy, st.message() + "; this node has no replica yet to serve from");
  spdlog::warn("{}; serving the replica at change {} until it is back", st.message(), *seq);
  return false;
}

}  // namespace

Status prepare_database(const LaunchSettings& launch, std::string* backup) {
  struct stat st;
  if (::stat(launch.base.db.c_str(), &st) == 0) {
    auto db = Database::open(launch.base.db, Database::Mode::kReadWrite);
    if (!db.ok()) return db.status();
    if ((*db)->version() < Database::latest()) {
      // A migration is pending: keep a copy of the database as it was.
      if (Status s = make_dirs(launch.backup_dir, 0700); !s.ok()) return s;
      std::string target =
          launch.backup_dir + "/vmail-" + timestamp() + "-v" + std::to_string((*db)->version()) + ".db";
      if (Status s = (*db)->backup_to(target); !s.ok()) {
        return Status(s.code(), "backup before migration: " + s.message());
      }
      if (backup) *backup = target;
    }
  }
  auto db = Database::open_migrated(launch.base.db);
  if (!db.ok()) return db.status();
  auto values = recorded_values(launch);
  if (!values.ok()) return values.status();
  if (Status s = (*db)->record_settings(*values); !s.ok()) return s;
  if (!launch.base.upstream.empty()) {
    auto followed = follow_upstream(launch, **db);
    if (!followed.ok()) return followed.status();
    // Down, with a replica to serve from: no writes until it is back.
    if (!*followed) return Status::Ok();
  }
  Store store(**db, Actor::current("vmail-launch"));
  auto exists = store.domain_exists(launch.mail_domain);
  if (!exists.ok()) return exists.status();
  if (!*exists) {
    auto keys = new_domain_keys(launch.base, process_env(), std::time(nullptr));
    if (!keys.ok()) return keys.status();
    if (!keys->files.warning.empty()) spdlog::warn("{}", keys->files.warning);
    if (Status s = store.add_domain(launch.mail_domain, &*keys); !s.ok()) {
      // Another node of a shared store may have added it meanwhile.
      auto now = store.domain_exists(launch.mail_domain);
      if (s.code() != Code::kBadInput || !now.ok() || !*now) return s;
    }
  }
  return add_missing_dkim_keys(launch, store);
}

namespace {

// The folder the keys live in, or the nearest one that exists above it.
std::string dkim_key_folder(const LaunchSettings& launch) {
  std::string dir = launch.base.state_dir + "/dkim";
  struct stat st;
  while (::stat(dir.c_str(), &st) != 0 && dir.find('/', 1) != std::string::npos) dir.erase(dir.rfind('/'));
  return dir;
}

std::optional<KeyChainCheck> dkim_key_folder_check(const LaunchSettings& launch, std::string* folder) {
  auto opendkim = user_by_name("opendkim");
  if (!opendkim) return std::nullopt;
  *folder = dkim_key_folder(launch);
  return check_key_chain(*folder, KeyReader{opendkim->uid, opendkim->gid, "opendkim"});
}

}  // namespace

Status check_dkim_key_folder(const LaunchSettings& launch, std::vector<std::string>* warnings) {
  std::string folder;
  auto check = dkim_key_folder_check(launch, &folder);
  if (!check || check->verdict == KeyChain::kSafe) return Status::Ok();
  const std::string what = "DKIM keys in " + folder + ": " + check->reason;
  if (check->verdict == KeyChain::kStickyOnly) {
    if (launch.dkim_require_safe_keys) {
      warnings->push_back(what +
                          "; OpenDKIM counts that as unsafe, but only root can replace what root made there: "
                          "the launcher checked every folder itself and turns OpenDKIM's RequireSafeKeys off");
    }
    return Status::Ok();
  }
  if (!launch.dkim_require_safe_keys) {
    warnings->push_back(what + "; OpenDKIM signs with them anyway (VMAIL_DKIM_REQUIRE_SAFE_KEYS=no)");
    return Status::Ok();
  }
  return Status(Code::kConfig, what +
                                   "; OpenDKIM would refuse every key and defer all mail from logins: make that "
                                   "folder root's and writable by root alone, move VMAIL_STATE_DIR, or set "
                                   "VMAIL_DKIM_REQUIRE_SAFE_KEYS=no");
}

bool opendkim_require_safe_keys(const LaunchSettings& launch) {
  if (!launch.dkim_require_safe_keys) return false;
  std::string folder;
  auto check = dkim_key_folder_check(launch, &folder);
  return !check || check->verdict != KeyChain::kStickyOnly;
}

namespace {

// 0 when a TCP socket can bind `address` (numeric, "" = every IPv4
// address) and `port`, else the errno.
int try_bind(bool v6, const std::string& address, uint16_t port) {
  int fd = ::socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return errno;
  int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  int rc;
  if (v6) {
    sockaddr_in6 a{};
    a.sin6_family = AF_INET6;
    a.sin6_port = htons(port);
    inet_pton(AF_INET6, address.c_str(), &a.sin6_addr);
    rc = ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  } else {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    if (address.empty()) {
      a.sin_addr.s_addr = htonl(INADDR_ANY);
    } else {
      inet_pton(AF_INET, address.c_str(), &a.sin_addr);
    }
    rc = ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  }
  int err = rc == 0 ? 0 : errno;
  ::close(fd);
  return err;
}

}  // namespace

Status check_ports_free(const Endpoints& e) {
  for (size_t i = 0; i < kServices.size(); ++i) {
    if (e.ports[i] == 0) continue;  // the service is off
    // A loopback-only service binds 127.0.0.1 whatever VMAIL_LISTEN says.
    const bool loopback = kServices[i].loopback;
    const std::string address = loopback ? "127.0.0.1" : e.listen;
    if (int err = try_bind(!loopback && e.listen_ipv6, address, e.ports[i]); err != 0) {
      std::string where = (address.empty() ? std::string("*") : address) + ":" + std::to_string(e.ports[i]);
      return Status(Code::kConfig, std::string(kServices[i].variable) + " " + std::to_string(e.ports[i]) +
                                       ": cannot listen on " + where + ": " + std::strerror(err));
    }
  }
  return Status::Ok();
}

Status ensure_policy_nonce(const LaunchSettings& launch) {
  auto dir = Dir::open(launch.base.state_dir);
  if (!dir.ok()) return dir.status();
  const std::string name = base_name(launch.policy_nonce_file);
  auto existing = dir->read_file(name, 4096);
  if (!existing.ok()) return existing.status();
  if (*existing && (*existing)->size() == 64) return Status::Ok();
  unsigned char bytes[32];
  if (RAND_bytes(bytes, sizeof bytes) != 1) return Status(Code::kInternal, "RAND_bytes failed");
  static const char kHex[] = "0123456789abcdef";
  std::string nonce;
  for (unsigned char b : bytes) {
    nonce += kHex[b >> 4];
    nonce += kHex[b & 15];
  }
  FileOptions options{0600, std::nullopt, std::nullopt};
  if (Status s = dir->write_file(name, nonce, options); !s.ok()) return s;
  // Quiet: a refused first start still says exactly one line.
  spdlog::debug("made {} (Dovecot's auth policy nonce)", launch.policy_nonce_file);
  return Status::Ok();
}

}  // namespace vmail
