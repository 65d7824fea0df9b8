#include "core/accounts.h"

#include <grp.h>
#include <pwd.h>

#include <cerrno>
#include <vector>

namespace vmail {
namespace {

// Runs one getpw*_r/getgr*_r call and returns pick(entry) while the buffer
// its strings point into is still alive. The buffer grows on ERANGE: a group
// with many members does not fit in a few KiB.
template <class Entry, class Call, class Pick>
auto lookup(Call call, Pick pick) -> std::optional<decltype(pick(Entry{}))> {
  std::vector<char> buf(4096);
  while (true) {
    Entry entry{};
    Entry* found = nullptr;
    int rc = call(&entry, buf.data(), buf.size(), &found);
    if (rc == ERANGE && buf.size() < (1u << 20)) {
      buf.resize(buf.size() * 2);
      continue;
    }
    if (rc != 0 || found == nullptr) return std::nullopt;
    return pick(entry);
  }
}

UserIds user_ids(const passwd& pw) { return UserIds{pw.pw_uid, pw.pw_gid}; }
gid_t group_id(const group& gr) { return gr.gr_gid; }

}  // namespace

std::optional<UserIds> user_by_name(const std::string& name) {
  return lookup<passwd>([&](passwd* e, char* b, size_t n, passwd** f) { return getpwnam_r(name.c_str(), e, b, n, f); },
                        user_ids);
}

bool user_exists(uid_t uid) {
  return lookup<passwd>([&](passwd* e, char* b, size_t n, passwd** f) { return getpwuid_r(uid, e, b, n, f); }, user_ids)
      .has_value();
}

std::optional<gid_t> group_by_name(const std::string& name) {
  return lookup<group>([&](group* e, char* b, size_t n, group** f) { return getgrnam_r(name.c_str(), e, b, n, f); },
                       group_id);
}

bool group_exists(gid_t gid) {
  return lookup<group>([&](group* e, char* b, size_t n, group** f) { return getgrgid_r(gid, e, b, n, f); }, group_id)
      .has_value();
}

}  // namespace vmail
