// Maildirs under VMAIL_MAIL_DIR: `<domain>/<local>/Maildir/{cur,new,tmp}`.
//
// Both calls walk the tree with openat(O_NOFOLLOW | O_DIRECTORY) from the mail
// dir, so a symlink planted anywhere below it is never followed out of it.
// Names read back from the database are re-validated before they become path
// components. Thread-safe (no shared state, no chdir).
#pragma once

#include <cstdint>
#include <string>
#include <utility>

#include "core/status.h"

namespace vmail {

// Creates the maildir (and missing parents below mail_dir) with mode 0700,
// owned by uid:gid when running as root. Existing folders are kept.
Status create_maildir(const std::string& mail_dir, const std::string& domain, const std::string& local, uint32_t uid,
                      uint32_t gid);

// Creates only `<mail_dir>/<domain>` (as create_maildir would): batch import
// leaves each user's maildir to Dovecot, which makes it, as uid, at the first
// delivery or login, and needs a domain folder it can write into.
Status create_domain_dir(const std::string& mail_dir, const std::string& domain, uint32_t uid, uint32_t gid);

// True when `<mail_dir>/<domain>/<local>/Maildir/cur` or `.../new` holds an
// entry: mail that a new user of that address would inherit. A missing folder
// is false (the common case costs one failed openat). kCantCreate when a
// folder on the way cannot be opened for another reason.
Result<bool> maildir_holds_mail(const std::string& mail_dir, const std::string& domain, const std::string& local);

// `<mail_dir>/<domain>` opened once, to ask about many of its users'
// maildirs (batch import). holds_mail() is safe from several threads at once.
class DomainMaildirs {
 public:
  // A missing folder is not an error: then no user of the domain has mail.
  static Result<DomainMaildirs> open(const std::string& mail_dir, const std::string& domain);
  DomainMaildirs(DomainMaildirs&& other) noexcept;
  DomainMaildirs& operator=(DomainMaildirs&&) = delete;
  ~DomainMaildirs();
  // As maildir_holds_mail for `<domain>/<local>`.
  Result<bool> holds_mail(const std::string& local) const;

 private:
  DomainMaildirs(int fd, std::string path) : fd_(fd), path_(std::move(path)) {}
  int fd_;  // -1 when the folder does not exist
  std::string path_;
};

// Removes `<mail_dir>/<domain>/<local>` (or the whole `<mail_dir>/<domain>`
// when `local` is empty) and everything below it, never following symlinks.
// A missing folder is not an error.
Status purge_maildir(const std::string& mail_dir, const std::string& domain, const std::string& local);

}  // namespace vmail

namespace vmail {

// Whether `<mail_dir>/<domain>/<local>/Maildir` holds mail: any entry in cur/
// or new/, or any folder besides cur, new and tmp (a Maildir++ subfolder). A
// missing maildir, or a symlink where a folder should be (never followed),
// holds none. kCantCreate when a folder cannot be read.
Result<bool> maildir_has_mail(const std::string& mail_dir, const std::string& domain, const std::string& local);

}  // namespace vmail
