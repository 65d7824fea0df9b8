// libnss_vmail.so.2: glibc's NSS entry points for the `passwd` and `aliases`
// databases, a thin extern "C" layer over src/lookup/lookup.h (SPEC "NSS").
//
// Every entry point is thread-safe: lookups by name use the calling thread's
// own read-only connection; enumeration state (set/get/end) is shared by the
// process, as glibc expects, and guarded by a mutex. No exception crosses this
// ABI: the lookups are noexcept and the rest is wrapped.
#include <errno.h>
#include <nss.h>

#include <mutex>
#include <vector>

#include "lookup/lookup.h"

namespace {

using vmail::AliasEntry;
using vmail::LookupStatus;
using vmail::PasswdEntry;

nss_status to_nss(LookupStatus status, int* errnop) {
  switch (status) {
    case LookupStatus::kFound: return NSS_STATUS_SUCCESS;
    case LookupStatus::kNotFound: *errnop = ENOENT; return NSS_STATUS_NOTFOUND;
    case LookupStatus::kUnavailable: *errnop = ENOENT; return NSS_STATUS_UNAVAIL;
    case LookupStatus::kTryAgain: *errnop = EAGAIN; return NSS_STATUS_TRYAGAIN;
    case LookupStatus::kBufferTooSmall:
      // glibc doubles the buffer and calls again.
      *errnop = ERANGE;
      return NSS_STATUS_TRYAGAIN;
  }
  *errnop = ENOENT;
  return NSS_STATUS_UNAVAIL;
}

// Runs `body` (which returns a LookupStatus), turning any exception into
// TRYAGAIN (it can only be an allocation failure).
template <class Body>
nss_status guarded(int* errnop, Body&& body) noexcept {
  try {
    return to_nss(body(), errnop);
  } catch (...) {
    *errnop = ENOMEM;
    return NSS_STATUS_TRYAGAIN;
  }
}

LookupStatus load(std::vector<PasswdEntry>* out) {
  vmail::Settings settings;
  if (LookupStatus st = vmail::nss_settings(&settings, nullptr); st != LookupStatus::kFound) return st;
  return vmail::list_passwd(settings, out, nullptr);
}

LookupStatus load(std::vector<AliasEntry>* out) {
  vmail::Settings settings;
  if (LookupStatus st = vmail::nss_settings(&settings, nullptr); st != LookupStatus::kFound) return st;
  return vmail::list_aliases(settings, out, nullptr);
}

LookupStatus fill(const PasswdEntry& e, struct passwd* result, char* buffer, size_t buflen) {
  return vmail::fill_passwd(e, result, buffer, buflen);
}

LookupStatus fill(const AliasEntry& e, struct aliasent* result, char* buffer, size_t buflen) {
  return vmail::fill_alias(e, result, buffer, buflen);
}

// One process-wide enumeration (setpwent/getpwent_r/endpwent share it, as
// glibc's own modules do). The whole list is read in one consistent snapshot
// when it starts; an entry that does not fit the caller's buffer stays next.
template <class Entry>
class Enumeration {
 public:
  nss_status start() noexcept {
    std::lock_guard<std::mutex> lock(mutex_);
    int ignored = 0;
    return guarded(&ignored, [&] { return reload(); });
  }

  template <class Result>
  nss_status next(Result* result, char* buffer, size_t buflen, int* errnop) noexcept {
    std::lock_guard<std::mutex> lock(mutex_);
    return guarded(errnop, [&] {
      if (!loaded_) {
        if (LookupStatus st = reload(); st != LookupStatus::kFound) return st;
      }
      if (next_ >= entries_.size()) return LookupStatus::kNotFound;
      LookupStatus st = fill(entries_[next_], result, buffer, buflen);
      if (st == LookupStatus::kFound) ++next_;
      return st;
    });
  }

  nss_status stop() noexcept {
    std::lock_guard<std::mutex> lock(mutex_);
    std::vector<Entry>().swap(entries_);
    loaded_ = false;
    next_ = 0;
    return NSS_STATUS_SUCCESS;
  }

 private:
  LookupStatus reload() {
    std::vector<Entry>().swap(entries_);
    next_ = 0;
    LookupStatus st = load(&entries_);
    loaded_ = st == LookupStatus::kFound;
    return st;
  }

  std::mutex mutex_;
  std::vector<Entry> entries_;
  size_t next_ = 0;
  bool loaded_ = false;
};

// Constant-initialised: nothing runs (or can throw) when the module is loaded.
constinit Enumeration<PasswdEntry> g_passwd;
constinit Enumeration<AliasEntry> g_aliases;

}  // namespace

extern "C" {

// Declared through glibc's own prototypes so a signature mismatch cannot compile.
__attribute__((visibility("default"))) nss_getpwnam_r _nss_vmail_getpwnam_r;
__attribute__((visibility("default"))) nss_setpwent _nss_vmail_setpwent;
__attribute__((visibility("default"))) nss_getpwent_r _nss_vmail_getpwent_r;
__attribute__((visibility("default"))) nss_endpwent _nss_vmail_endpwent;
__attribute__((visibility("default"))) nss_getaliasbyname_r _nss_vmail_getaliasbyname_r;
__attribute__((visibility("default"))) nss_setaliasent _nss_vmail_setaliasent;
__attribute__((visibility("default"))) nss_getaliasent_r _nss_vmail_getaliasent_r;
__attribute__((visibility("default"))) nss_endaliasent _nss_vmail_endaliasent;

enum nss_status _nss_vmail_getpwnam_r(const char* name, struct passwd* result, char* buffer, size_t buflen,
                                      int* errnop) {
  return guarded(errnop, [&] {
    if (name == nullptr) return LookupStatus::kNotFound;
    vmail::Settings settings;
    if (LookupStatus st = vmail::nss_settings(&settings, nullptr); st != LookupStatus::kFound) return st;
    PasswdEntry entry;
    if (LookupStatus st = vmail::lookup_passwd(settings, name, &entry, nullptr); st != LookupStatus::kFound) {
      return st;
    }
    return vmail::fill_passwd(entry, result, buffer, buflen);
  });
}

enum nss_status _nss_vmail_setpwent(int /*stayopen*/) { return g_passwd.start(); }

enum nss_status _nss_vmail_getpwent_r(struct passwd* result, char* buffer, size_t buflen, int* errnop) {
  return g_passwd.next(result, buffer, buflen, errnop);
}

enum nss_status _nss_vmail_endpwent(void) { return g_passwd.stop(); }

enum nss_status _nss_vmail_getaliasbyname_r(const char* name, struct aliasent* result, char* buffer, size_t buflen,
                                            int* errnop) {
  return guarded(errnop, [&] {
    if (name == nullptr) return LookupStatus::kNotFound;
    vmail::Settings settings;
    if (LookupStatus st = vmail::nss_settings(&settings, nullptr); st != LookupStatus::kFound) return st;
    AliasEntry entry;
    if (LookupStatus st = vmail::lookup_alias(settings, name, &entry, nullptr); st != LookupStatus::kFound) {
      return st;
    }
    return vmail::fill_alias(entry, result, buffer, buflen);
  });
}

enum nss_status _nss_vmail_setaliasent(void) { return g_aliases.start(); }

enum nss_status _nss_vmail_getaliasent_r(struct aliasent* result, char* buffer, size_t buflen, int* errnop) {
  return g_aliases.next(result, buffer, buflen, errnop);
}

enum nss_status _nss_vmail_endaliasent(void) { return g_aliases.stop(); }

}  // extern "C"
