// The export lock: an flock on `<db>.export-lock`, held while one export reads
// its snapshot and replaces the files, so exports are serialised and the last
// one always reflects the last commit. Only the holder writes the exported
// files' fixed temp names (export_stage.h).
#pragma once

#include <chrono>
#include <string>

#include "core/status.h"

namespace vmail {

class ExportLock {
 public:
  // Waits at most VMAIL_EXPORT_LOCK_TIMEOUT seconds (default 30): a hung
  // postmap must not hang every later command (and the launcher's reload).
  // kBusy (75) naming the lock file when another process holds it longer;
  // kConfig (78) for a bad timeout; kCantCreate when it cannot be opened.
  static Result<ExportLock> acquire(const std::string& db_path);
  // The same with an explicit timeout.
  static Result<ExportLock> acquire(const std::string& db_path, std::chrono::milliseconds timeout);

  ExportLock(ExportLock&& o) noexcept : fd_(o.fd_) { o.fd_ = -1; }
  ExportLock(const ExportLock&) = delete;
  ExportLock& operator=(const ExportLock&) = delete;
  ~ExportLock();

 private:
  explicit ExportLock(int fd) : fd_(fd) {}
  int fd_;
};

}  // namespace vmail
