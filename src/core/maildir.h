// Maildirs under VMAIL_MAIL_DIR: `<domain>/<local>/Maildir/{cur,new,tmp}`.
//
// Every call walks the tree with openat(O_NOFOLLOW | O_DIRECTORY) from the mail
// dir, so a symlink planted anywhere below it is never followed out of it.
// Names read back from the database are re-validated before they become path
// components. Thread-safe (no shared state, no chdir).
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "core/files.h"
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

// The one leftover-maildir rule (`user add` and `user import` alike): true
// when the folder `<local>` of `domain_dir` (a domain's folder under the
// mail dir), left by an earlier user of that address, holds mail a new user
// would inherit: an entry in `Maildir/cur` or `Maildir/new`, or in `cur` or
// `new` of one of the Maildir's subfolders (`.Sent`, `.Trash`, ...). Not
// mail: a missing folder (the common case costs one failed openat), empty
// `cur`/`new`, `tmp`, Dovecot's index, uidlist and subscription files, empty
// subfolders. Nothing is ever followed: a symlink (or a file) where the
// home, the Maildir, `cur`, `new` or a subfolder would be is kCantCreate
// (Dovecot would follow it; no new user gets it, even when reusing), as is a
// folder that cannot be read. Safe from several threads on one `domain_dir`.
Result<bool> leftover_holds_mail(const Dir& domain_dir, const std::string& local);

// `<mail_dir>/<domain>` by descriptor, for leftover_holds_mail; nullopt when
// it (or the mail dir) does not exist: then no user of the domain has mail.
// kCantCreate when it is a symlink or cannot be opened.
Result<std::optional<Dir>> open_domain_dir(const std::string& mail_dir, const std::string& domain);

// leftover_holds_mail for `<mail_dir>/<domain>/<local>`.
Result<bool> maildir_holds_mail(const std::string& mail_dir, const std::string& domain, const std::string& local);

// Removes `<mail_dir>/<domain>/<local>` (or the whole `<mail_dir>/<domain>`
// when `local` is empty) and everything below it, never following symlinks.
// A missing folder is not an error.
Status purge_maildir(const std::string& mail_dir, const std::string& domain, const std::string& local);

}  // namespace vmail
