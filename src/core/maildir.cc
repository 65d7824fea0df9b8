#include "core/maildir.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "core/files.h"
#include "core/validate.h"

namespace vmail {
namespace {

Status error(const std::string& path, const std::string& what) {
  return Status(Code::kCantCreate, path + ": " + what + ": " + std::strerror(errno));
}

Status check_components(const std::string& domain, const std::string& local) {
  auto d = normalize_domain(domain);
  if (!d.ok() || *d != domain) return Status(Code::kInternal, "domain " + quote(domain) + ": unsafe as a folder name");
  if (!local.empty()) {
    if (Status s = check_local_part(local); !s.ok()) {
      return Status(Code::kInternal, "local part " + quote(local) + ": unsafe as a folder name");
    }
  }
  return Status::Ok();
}

// Opens or makes each of `names` below mail_dir in turn (files.h Dir: by
// descriptor, a new folder chowned through its descriptor, a symlink in the
// way refused). The vmail user can write every folder below mail_dir.
Result<Dir> make_below(const std::string& mail_dir, const std::vector<std::string>& names, uint32_t uid, uint32_t gid) {
  auto current = Dir::open_or_make(mail_dir, 0755);
  if (!current.ok()) return current.status();
  for (const std::string& name : names) {
    auto next = current->make_sub(name, 0700, uid, gid);
    if (!next.ok()) return next.status();
    *current = std::move(*next);
  }
  return current;
}

}  // namespace

Status create_maildir(const std::string& mail_dir, const std::string& domain, const std::string& local, uint32_t uid,
                      uint32_t gid) {
  if (Status s = check_components(domain, local); !s.ok()) return s;
  auto maildir = make_below(mail_dir, {domain, local, "Maildir"}, uid, gid);
  if (!maildir.ok()) return maildir.status();
  for (const char* sub : {"cur", "new", "tmp"}) {
    auto made = maildir->make_sub(sub, 0700, uid, gid);
    if (!made.ok()) return made.status();
  }
  return Status::Ok();
}

Status create_domain_dir(const std::string& mail_dir, const std::string& domain, uint32_t uid, uint32_t gid) {
  if (Status s = check_components(domain, ""); !s.ok()) return s;
  return make_below(mail_dir, {domain}, uid, gid).status();
}

namespace {

// Whether the maildir folder `dir` (a Maildir or one of its subfolders) has
// an entry in cur/ or new/. Dir::sub refuses a symlink or a file there.
Result<bool> cur_or_new_has_entry(const Dir& dir) {
  for (const char* name : {"cur", "new"}) {
    auto sub = dir.sub(name);
    if (!sub.ok()) return sub.status();
    if (!*sub) continue;
    auto entries = (*sub)->entries();
    if (!entries.ok()) return entries.status();
    if (!entries->empty()) return true;
  }
  return false;
}

}  // namespace

Result<bool> leftover_holds_mail(const Dir& domain_dir, const std::string& local) {
  if (Status s = check_local_part(local); !s.ok()) {
    return Status(Code::kInternal, "local part " + quote(local) + ": unsafe as a folder name");
  }
  auto home = domain_dir.sub(local);
  if (!home.ok() || !*home) return home.ok() ? Result<bool>(false) : Result<bool>(home.status());
  auto maildir = (*home)->sub("Maildir");
  if (!maildir.ok() || !*maildir) return maildir.ok() ? Result<bool>(false) : Result<bool>(maildir.status());
  auto found = cur_or_new_has_entry(**maildir);
  if (!found.ok() || *found) return found;
  auto entries = (*maildir)->entries();
  if (!entries.ok()) return entries.status();
  for (const std::string& name : *entries) {
    if (name == "cur" || name == "new" || name == "tmp") continue;
    struct stat st;
    if (::fstatat((*maildir)->fd(), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
      if (errno == ENOENT) continue;  // gone meanwhile
      return error((*maildir)->path() + "/" + name, "cannot inspect");
    }
    // Dovecot's own files (index, uidlist, subscriptions) are no mail; a
    // symlink (Dovecot would follow it to another folder) is refused unread.
    if (S_ISLNK(st.st_mode)) {
      return Status(Code::kCantCreate, (*maildir)->path() + "/" + name + ": a symlink in a maildir, not followed");
    }
    if (!S_ISDIR(st.st_mode)) continue;
    auto sub = (*maildir)->sub(name);
    if (!sub.ok()) return sub.status();
    if (!*sub) continue;
    auto in_sub = cur_or_new_has_entry(**sub);
    if (!in_sub.ok() || *in_sub) return in_sub;
  }
  return false;
}

Result<std::optional<Dir>> open_domain_dir(const std::string& mail_dir, const std::string& domain) {
  if (Status s = check_components(domain, ""); !s.ok()) return s;
  if (!file_exists(mail_dir)) return std::optional<Dir>();
  auto base = Dir::open(mail_dir);
  if (!base.ok()) return base.status();
  return base->sub(domain);
}

Result<bool> maildir_holds_mail(const std::string& mail_dir, const std::string& domain, const std::string& local) {
  auto dir = open_domain_dir(mail_dir, domain);
  if (!dir.ok()) return dir.status();
  if (!*dir) return false;
  return leftover_holds_mail(**dir, local);
}

Status purge_maildir(const std::string& mail_dir, const std::string& domain, const std::string& local) {
  if (Status s = check_components(domain, local); !s.ok()) return s;
  auto base = Dir::open(mail_dir);
  if (!base.ok()) return file_exists(mail_dir) ? base.status() : Status::Ok();
  if (local.empty()) return base->remove_tree(domain);
  auto dom = base->sub(domain);
  if (!dom.ok()) return Status(Code::kCantCreate, mail_dir + "/" + domain + ": not a folder (symlink?), not removed");
  if (!*dom) return Status::Ok();
  return (*dom)->remove_tree(local);
}

}  // namespace vmail
