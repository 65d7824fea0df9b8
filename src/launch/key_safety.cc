#include "launch/key_safety.h"

#include <grp.h>
#include <pwd.h>
#include <sys/stat.h>

#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <vector>

namespace vmail {
namespace {

std::string mode_text(mode_t mode) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "%04o", static_cast<unsigned>(mode & 07777));
  return buf;
}

// getpwent/getgrgid are not reentrant; OpenDKIM walks the same tables.
std::mutex& passwd_walk_mutex() {
  static std::mutex m;
  return m;
}

// A user other than root and `reader` whose primary or supplementary group
// is `gid` (OpenDKIM's test for "a group with other members"); "" if none.
std::string other_group_member(gid_t gid, const KeyReader& reader) {
  std::lock_guard lock(passwd_walk_mutex());
  std::string found;
  setpwent();
  for (passwd* pw = getpwent(); pw != nullptr; pw = getpwent()) {
    if (pw->pw_uid != reader.uid && pw->pw_uid != 0 && pw->pw_gid == gid) {
      found = pw->pw_name;
      break;
    }
  }
  endpwent();
  if (!found.empty()) return found;
  if (group* gr = getgrgid(gid); gr != nullptr) {
    for (char** m = gr->gr_mem; *m != nullptr; ++m) {
      if (reader.name != *m && std::strcmp(*m, "root") != 0) return *m;
    }
  }
  return "";
}

bool owner_ok(const struct stat& st, const KeyReader& reader) { return st.st_uid == 0 || st.st_uid == reader.uid; }

// One folder of the chain by OpenDKIM's rules (dkimf_checkfsnode); sets
// *sticky for a root-owned sticky folder that only the missing sticky-bit
// rule in OpenDKIM refuses.
std::string check_folder(const std::string& path, const struct stat& st, const KeyReader& reader, bool* sticky) {
  *sticky = false;
  if ((st.st_mode & S_IWOTH) != 0) {
    if ((st.st_mode & S_ISVTX) == 0 || st.st_uid != 0) {
      return path + " is writable by everyone (mode " + mode_text(st.st_mode) + ")";
    }
    *sticky = true;
  }
  if ((st.st_mode & S_IWGRP) != 0) {
    if (std::string other = other_group_member(st.st_gid, reader); !other.empty()) {
      return path + " is writable by group " + std::to_string(st.st_gid) + ", which has other members (e.g. " + other +
             ")";
    }
  }
  if ((st.st_mode & S_IWUSR) != 0 && !owner_ok(st, reader)) {
    return path + " is writable by its owner, uid " + std::to_string(st.st_uid) + ", who is neither root nor " +
           reader.name;
  }
  return "";
}

std::string check_key_file(const std::string& path, const struct stat& st, const KeyReader& reader) {
  if (!owner_ok(st, reader)) {
    return path + " is owned by uid " + std::to_string(st.st_uid) + ", neither root nor " + reader.name;
  }
  if ((st.st_mode & (S_IRGRP | S_IWGRP)) != 0) {
    if (std::string other = other_group_member(st.st_gid, reader); !other.empty()) {
      return path + " is readable by group " + std::to_string(st.st_gid) + ", which has other members (e.g. " + other +
             ")";
    }
  }
  if ((st.st_mode & (S_IROTH | S_IWOTH)) != 0) {
    return path + " can be read or written by other users (mode " + mode_text(st.st_mode) + ")";
  }
  return "";
}

// The resolved path and the folders from / down to it.
bool resolve(const std::string& path, std::vector<std::string>* nodes, std::string* error) {
  char real[PATH_MAX];
  if (::realpath(path.c_str(), real) == nullptr) {
    *error = path + ": " + std::strerror(errno);
    return false;
  }
  std::string r = real;
  nodes->push_back("/");
  for (size_t pos = 1; pos <= r.size(); ++pos) {
    if (pos == r.size() || r[pos] == '/') {
      if (pos > 1) nodes->push_back(r.substr(0, pos));
    }
  }
  return true;
}

bool in_group(gid_t gid, const KeyReader& reader) {
  if (gid == reader.gid) return true;
  std::vector<gid_t> groups(64);
  int n = static_cast<int>(groups.size());
  if (getgrouplist(reader.name.c_str(), reader.gid, groups.data(), &n) < 0) {
    groups.resize(static_cast<size_t>(n));
    if (getgrouplist(reader.name.c_str(), reader.gid, groups.data(), &n) < 0) return false;
  }
  for (int i = 0; i < n; ++i) {
    if (groups[static_cast<size_t>(i)] == gid) return true;
  }
  return false;
}

// Whether `reader` has permission `bit` (4 read, 1 search) on `st`.
bool may(const struct stat& st, const KeyReader& reader, unsigned bit) {
  if (reader.uid == 0) return true;
  unsigned mode = st.st_mode & 0777;
  if (st.st_uid == reader.uid) return (mode >> 6) & bit;
  if (in_group(st.st_gid, reader)) return (mode >> 3) & bit;
  return mode & bit;
}

}  // namespace

KeyChainCheck check_key_chain(const std::string& path, const KeyReader& reader) {
  std::vector<std::string> nodes;
  std::string error;
  if (!resolve(path, &nodes, &error)) return {KeyChain::kUnsafe, error};
  std::string sticky_reason;
  std::string sticky_parent;  // the previous node, when it was a sticky folder
  for (const auto& node : nodes) {
    struct stat st;
    if (::stat(node.c_str(), &st) != 0) return {KeyChain::kUnsafe, node + ": " + std::strerror(errno)};
    // Below a sticky folder only its owner can rename a folder: it must be
    // root's or the reader's for the leniency to hold.
    if (!sticky_parent.empty() && !owner_ok(st, reader)) {
      return {KeyChain::kUnsafe, node + " is owned by uid " + std::to_string(st.st_uid) + " in " + sticky_parent +
                                     ", which everyone can write"};
    }
    std::string why;
    bool sticky = false;
    if (S_ISDIR(st.st_mode)) {
      why = check_folder(node, st, reader, &sticky);
    } else if (S_ISREG(st.st_mode)) {
      why = check_key_file(node, st, reader);
    } else {
      why = node + " is not a regular file";
    }
    if (!why.empty()) return {KeyChain::kUnsafe, why};
    sticky_parent = sticky ? node : "";
    if (sticky && sticky_reason.empty()) {
      sticky_reason = node + " is writable by everyone (mode " + mode_text(st.st_mode) + ", sticky)";
    }
  }
  if (!sticky_reason.empty()) return {KeyChain::kStickyOnly, sticky_reason};
  return {KeyChain::kSafe, ""};
}

std::string key_unreadable_reason(const std::string& path, const KeyReader& reader) {
  std::vector<std::string> nodes;
  std::string error;
  if (!resolve(path, &nodes, &error)) return error;
  for (size_t i = 0; i < nodes.size(); ++i) {
    struct stat st;
    if (::stat(nodes[i].c_str(), &st) != 0) return nodes[i] + ": " + std::strerror(errno);
    bool last = i + 1 == nodes.size();
    if (!last) {
      if (!may(st, reader, 1)) {
        return reader.name + " cannot enter " + nodes[i] + " (owner uid " + std::to_string(st.st_uid) + ", mode " +
               mode_text(st.st_mode) + ")";
      }
      continue;
    }
    if (!S_ISREG(st.st_mode)) return nodes[i] + " is not a regular file";
    if (!may(st, reader, 4)) {
      return reader.name + " cannot read " + nodes[i] + " (owner uid " + std::to_string(st.st_uid) + ", mode " +
             mode_text(st.st_mode) + ")";
    }
  }
  return "";
}

}  // namespace vmail
