// Read-only lookups for the NSS module and `vmail getent` (SPEC "NSS"): passwd
// entries by address and in full, aliases by source and in full. One code path
// serves both, so `vmail getent` prints what `getent -s vmail` prints.
//
// Written against the raw SQLite C API: nothing here throws (every function is
// noexcept; allocation failure becomes kTryAgain), logs, writes, creates a file
// or calls NSS. Descriptors are close-on-exec (SQLite opens with O_CLOEXEC).
//
// How the database is read without creating files: while a `-wal` file exists
// (a writer is or was active) the connection is an ordinary read-only one, which
// sees every committed transaction; otherwise the file holds everything committed
// and it is opened `immutable=1` (no locks, no -wal/-shm created, so a read-only
// volume works), and the file's size and times are compared before and after
// each read to retry when a writer appeared meanwhile. Each thread caches one
// connection (opening costs 150-400 us, a cached lookup a few us); a cached
// immutable view is reused only while the file is unchanged and its times are
// older than the kernel's current timestamp tick, so that no change can hide
// from the comparison.
//
// Keys are compared case-insensitively (ASCII, as stored); a key that is not an
// address, or not ASCII, is simply not found. Every row is untrusted and judged
// by core/row_policy.h, the policy the exporters share: a row that could not
// form a safe passwd or aliases line is skipped, and an alias keeps only its
// safe destinations (as in the exported `virtual` map). The connection cache and
// its freshness checks are in lookup/reader.h.
#pragma once

#include <aliases.h>
#include <pwd.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/settings.h"
#include "core/status.h"

namespace vmail {

// The outcome of a lookup; the NSS layer maps it onto nss_status and errno.
enum class LookupStatus {
  kFound,
  kNotFound,
  kUnavailable,     // no database, unreadable, not a vmail database, bad settings
  kTryAgain,        // busy past the timeout, or out of memory
  kBufferTooSmall,  // fill_*: the caller's buffer is too small (ERANGE)
};

// Why a lookup was unavailable or must be retried, for the CLI's message and
// exit status. The NSS module passes nullptr and says nothing.
struct LookupFailure {
  Code code = Code::kOk;  // kNoInput (no database), kConfig, kBusy, kInternal
  std::string message;
};

// One passwd entry: `name:x:uid:gid:gecos:dir:/usr/sbin/nologin`.
struct PasswdEntry {
  std::string name;   // the address
  std::string gecos;  // the display name
  std::string dir;    // <mail dir>/<domain>/<local>
  uint32_t uid = 0;
  uint32_t gid = 0;
};

// One aliases entry: the source (`local@domain` or `@domain`) and its destinations.
struct AliasEntry {
  std::string name;
  std::vector<std::string> members;
};

inline constexpr const char* kNssShell = "/usr/sbin/nologin";

// Settings as the NSS module resolves them: the environment read with
// secure_getenv (so a set-user-ID program ignores it), no flags. The recorded
// settings are applied by each lookup. kUnavailable on a bad value.
LookupStatus nss_settings(Settings* out, LookupFailure* failure) noexcept;

// Looks up the mailbox `key`. `settings` gives the database, the uid/gid and the
// mail dir; the values recorded in the database apply unless given explicitly.
LookupStatus lookup_passwd(const Settings& settings, std::string_view key, PasswdEntry* out,
                           LookupFailure* failure) noexcept;

// Every valid mailbox, ordered by address, from one consistent read.
LookupStatus list_passwd(const Settings& settings, std::vector<PasswdEntry>* out, LookupFailure* failure) noexcept;

// Looks up the alias `key` (`local@domain` or `@domain` for a catch-all).
LookupStatus lookup_alias(const Settings& settings, std::string_view key, AliasEntry* out,
                          LookupFailure* failure) noexcept;

// Every valid alias, ordered by source, destinations in their stored order.
LookupStatus list_aliases(const Settings& settings, std::vector<AliasEntry>* out, LookupFailure* failure) noexcept;

// Copies `entry` into `*result`, its strings into `buffer`. kBufferTooSmall
// (nothing usable in *result) when `buflen` is too small.
LookupStatus fill_passwd(const PasswdEntry& entry, struct passwd* result, char* buffer, size_t buflen) noexcept;
LookupStatus fill_alias(const AliasEntry& entry, struct aliasent* result, char* buffer, size_t buflen) noexcept;

// The line glibc's `getent` prints for the entry, with its newline: putpwent(3)
// for passwd (including its rule that a name starting with '+' or '-' gets empty
// uid and gid fields), and `name: ` padded to 14 columns then `m1, m2` for aliases.
std::string passwd_line(const PasswdEntry& entry);
std::string alias_line(const AliasEntry& entry);

// Drops this thread's cached connection (tests; a process that forked).
void lookup_forget_connection() noexcept;

}  // namespace vmail
