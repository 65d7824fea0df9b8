// Status and Result: the one way to fail inside the vmail library.
//
// A Status carries an exit code (sysexits, as in SPEC "Exit status") and a
// one-line message that names the path or field and the reason. Exceptions
// from SQLiteCpp or CLI11 are caught at the edge and turned into a Status.
#pragma once

#include <cassert>
#include <optional>
#include <string>
#include <utility>

namespace vmail {

// Exit codes of the `vmail` and `vmail-launch` programs (sysexits.h values).
enum class Code : int {
  kOk = 0,
  kUnhealthy = 1,    // health unhealthy, export --check out of sync
  kNotFoundKey = 2,  // getent: key not found
  kUsage = 64,       // EX_USAGE
  kBadInput = 65,    // EX_DATAERR: bad input or conflict
  kNoInput = 66,     // EX_NOINPUT: input file missing
  kNotFound = 67,    // EX_NOUSER: no such domain/user/alias
  kInternal = 70,    // EX_SOFTWARE
  kCantCreate = 73,  // EX_CANTCREAT: export could not be written
  kIoError = 74,     // EX_IOERR
  kBusy = 75,        // EX_TEMPFAIL: database busy past its timeout
  kConfig = 78,      // EX_CONFIG
};

class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(Code code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status Ok() { return Status(); }
  bool ok() const { return code_ == Code::kOk; }
  Code code() const { return code_; }
  int exit_code() const { return static_cast<int>(code_); }
  const std::string& message() const { return message_; }

 private:
  Code code_ = Code::kOk;
  std::string message_;
};

// A value or the Status saying why there is none.
template <class T>
class [[nodiscard]] Result {
 public:
  Result(T value) : value_(std::move(value)) {}                                  // NOLINT: implicit by design
  Result(Status status) : status_(std::move(status)) { assert(!status_.ok()); }  // NOLINT

  bool ok() const { return value_.has_value(); }
  const Status& status() const { return status_; }
  T& value() {
    assert(ok());
    return *value_;
  }
  const T& value() const {
    assert(ok());
    return *value_;
  }
  T& operator*() { return value(); }
  const T& operator*() const { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

 private:
  std::optional<T> value_;
  Status status_;
};

// Quotes a value for an error message so that the message stays one line:
// control characters become \xNN, quotes and backslashes
// are escaped, and very long values are shortened.
std::string quote(std::string_view value);

}  // namespace vmail
