#include "milter/milter.h"

#include <grp.h>
#include <libmilter/mfapi.h>
#include <spdlog/spdlog.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "core/accounts.h"
#include "core/files.h"

namespace vmail {

Result<std::shared_ptr<const SenderLogins>> SenderLoginsFile::current() {
  struct stat st;
  std::string stamp;
  if (::stat(path_.c_str(), &st) == 0) {
    stamp = std::to_string(st.st_ino) + ":" + std::to_string(st.st_size) + ":" + std::to_string(st.st_mtim.tv_sec) +
            "." + std::to_string(st.st_mtim.tv_nsec);
  }
  std::lock_guard lock(mutex_);
  if (table_ && stamp == stamp_) return table_;
  auto text = read_file(path_);
  Status problem = !text.ok() ? text.status() : !*text ? Status(Code::kNoInput, path_ + ": missing") : Status::Ok();
  if (!problem.ok()) {
    if (!table_) return problem;
    if (stamp != stamp_) spdlog::warn("{}; keeping the table read before", problem.message());
    stamp_ = stamp;
    return table_;
  }
  size_t skipped = 0;
  auto table = std::make_shared<const SenderLogins>(SenderLogins::parse(**text, [&](const std::string& reason) {
    // One line for the first bad line, a count for the rest: the file is the
    // exporter's, a bad line is a bug, not an attack worth a flood of logs.
    if (skipped++ == 0) spdlog::warn("{}: {}; left out", path_, reason);
  }));
  if (skipped > 1) spdlog::warn("{}: {} lines left out", path_, skipped);
  spdlog::debug("{}: {} addresses", path_, table->size());
  table_ = std::move(table);
  stamp_ = stamp;
  return table_;
}

namespace {

SenderLoginsFile* g_table = nullptr;  // set once by run_milter before smfi_main

// What one connection's current message has shown so far.
struct Message {
  std::string login;              // {auth_authen}; "" = no login
  std::vector<std::string> from;  // the From: field values
};

Message* message(SMFICTX* ctx) { return static_cast<Message*>(smfi_getpriv(ctx)); }

// Text for an SMTP reply and a log line: printable ASCII only (a hostile
// header must not reach either with control bytes), no '%' (libmilter's
// reply format), at most 200 bytes.
std::string printable(std::string_view text) {
  std::string out;
  for (unsigned char c : text.substr(0, 200)) out += (c >= 0x20 && c < 0x7f && c != '%') ? static_cast<char>(c) : '?';
  return out;
}

std::string symbol(SMFICTX* ctx, const char* name) {
  const char* v = smfi_getsymval(ctx, const_cast<char*>(name));
  return v ? v : "";
}

sfsistat on_envfrom(SMFICTX* ctx, char** /*argv*/) {
  Message* m = message(ctx);
  if (m == nullptr) {
    m = new Message;
    smfi_setpriv(ctx, m);
  }
  *m = Message{};
  m->login = symbol(ctx, "{auth_authen}");
  // No login: nothing to hold the From: against (submission and smtps refuse
  // such a client at RCPT anyway).
  return m->login.empty() ? SMFIS_ACCEPT : SMFIS_CONTINUE;
}

sfsistat on_header(SMFICTX* ctx, char* name, char* value) {
  if (Message* m = message(ctx); m != nullptr && strcasecmp(name, "From") == 0) m->from.emplace_back(value);
  return SMFIS_CONTINUE;
}

sfsistat on_eoh(SMFICTX* ctx) {
  Message* m = message(ctx);
  if (m == nullptr || m->login.empty()) return SMFIS_ACCEPT;
  auto table = g_table->current();
  if (!table.ok()) {
    spdlog::error("{}: deferring mail from {}", table.status().message(), printable(m->login));
    smfi_setreply(ctx, const_cast<char*>("451"), const_cast<char*>("4.3.0"),
                  const_cast<char*>("sender table unavailable, try again later"));
    return SMFIS_TEMPFAIL;
  }
  FromVerdict verdict = check_from(**table, m->login, m->from);
  if (verdict.allowed) return SMFIS_ACCEPT;
  std::string reason = printable(verdict.reason);
  spdlog::info("{}: refused From: of login {}: {}", symbol(ctx, "i").empty() ? "NOQUEUE" : symbol(ctx, "i"),
               printable(m->login), reason);
  std::string reply = reason + " (login " + printable(m->login) + ")";
  smfi_setreply(ctx, const_cast<char*>("550"), const_cast<char*>("5.7.1"), reply.data());
  return SMFIS_REJECT;
}

sfsistat on_close(SMFICTX* ctx) {
  delete message(ctx);
  smfi_setpriv(ctx, nullptr);
  return SMFIS_CONTINUE;
}

// Root is needed only to start: the socket folder belongs to `user`.
Status drop_privileges(const std::string& user) {
  if (::geteuid() != 0) return Status::Ok();
  auto ids = user_by_name(user);
  if (!ids) return Status(Code::kConfig, "user " + quote(user) + ": missing");
  if (::setgroups(1, &ids->gid) != 0 || ::setgid(ids->gid) != 0 || ::setuid(ids->uid) != 0) {
    return Status(Code::kConfig, "cannot become user " + quote(user) + ": " + std::strerror(errno));
  }
  if (::setuid(0) == 0) return Status(Code::kConfig, "still root after becoming " + quote(user));
  return Status::Ok();
}

}  // namespace

int run_milter(const MilterOptions& options) {
  static SenderLoginsFile table(options.sender_logins);
  if (auto first = table.current(); !first.ok()) {
    spdlog::error("{}", first.status().message());
    return first.status().exit_code();
  }
  g_table = &table;
  if (Status s = drop_privileges(options.user); !s.ok()) {
    spdlog::error("{}", s.message());
    return s.exit_code();
  }
  smfiDesc desc{};
  desc.xxfi_name = const_cast<char*>("vmail-milter");
  desc.xxfi_version = SMFI_VERSION;
  desc.xxfi_flags = 0;  // never changes a message
  desc.xxfi_envfrom = on_envfrom;
  desc.xxfi_header = on_header;
  desc.xxfi_eoh = on_eoh;
  desc.xxfi_close = on_close;
  std::string conn = "unix:" + options.socket;
  ::umask(0117);  // the socket: rw for its owner and group (postfix)
  if (smfi_setconn(conn.data()) != MI_SUCCESS || smfi_register(desc) != MI_SUCCESS ||
      smfi_opensocket(1) != MI_SUCCESS) {
    spdlog::error("{}: cannot listen (is the folder there and owned by {}?)", options.socket, options.user);
    return static_cast<int>(Code::kConfig);
  }
  spdlog::info("checking the From: of logins against {} on {}", options.sender_logins, options.socket);
  return smfi_main() == MI_SUCCESS ? 0 : static_cast<int>(Code::kInternal);
}

}  // namespace vmail
