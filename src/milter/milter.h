// vmail-milter: a Postfix milter (libmilter) for the submission and smtps
// services, placed before OpenDKIM. For a message from a SASL login
// ({auth_authen}) it checks every From: header address against the login
// (sender_rule.h) and refuses a mismatch at the end of the headers with
// `550 5.7.1` and one log line, so OpenDKIM never signs it. Mail without a
// login is accepted untouched. The sender_logins file is re-read when the
// exporter replaces it (a stat per message).
#pragma once

#include <memory>
#include <mutex>
#include <string>

#include "core/status.h"
#include "milter/sender_rule.h"

namespace vmail {

struct MilterOptions {
  std::string socket;         // unix socket path Postfix connects to
  std::string sender_logins;  // the exported sender_logins text file
  std::string user;           // run as this user (when started as root), e.g. postfix
};

// The sender_logins table, re-read when the file's inode, size or mtime
// changes. Thread-safe: current() may be called from every milter thread.
class SenderLoginsFile {
 public:
  explicit SenderLoginsFile(std::string path) : path_(std::move(path)) {}

  // The table as the file holds it now. When a changed file cannot be read,
  // the previous table (with a log line), or the error when there is none.
  Result<std::shared_ptr<const SenderLogins>> current();

 private:
  std::string path_;
  std::mutex mutex_;
  std::string stamp_;
  std::shared_ptr<const SenderLogins> table_;
};

// Loads the table, drops root for `user`, opens the socket and serves until
// SIGTERM or SIGINT (libmilter's own signal handling; SIGHUP stops it too).
// Returns the exit status: 0 after a stop, 78 for a bad user or socket, 66
// when sender_logins cannot be read at start.
int run_milter(const MilterOptions& options);

}  // namespace vmail
