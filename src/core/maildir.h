// Maildirs under VMAIL_MAIL_DIR: `<domain>/<local>/Maildir/{cur,new,tmp}`.
//
// Both calls walk the tree with openat(O_NOFOLLOW | O_DIRECTORY) from the mail
// dir, so a symlink planted anywhere below it is never followed out of it.
// Names read back from the database are re-validated before they become path
// components. Thread-safe (no shared state, no chdir).
#pragma once

#include <cstdint>
#include <string>

#include "core/status.h"

namespace vmail {

// Creates the maildir (and missing parents below mail_dir) with mode 0700,
// owned by uid:gid when running as root. Existing folders are kept.
Status create_maildir(const std::string& mail_dir, const std::string& domain, const std::string& local, uint32_t uid,
                      uint32_t gid);

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
