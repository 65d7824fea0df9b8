#include "lookup/lookup.h"

#include <sqlite3.h>

#include <cstdlib>
#include <cstring>
#include <map>
#include <new>

#include "core/row_policy.h"
#include "lookup/reader.h"

namespace vmail {
namespace {

// ---- Untrusted rows: core/row_policy.h decides ------------------------------

// Lowercases an ASCII key; false when it cannot be a stored key (so the
// lookup simply finds nothing without touching the database).
bool normalize_key(std::string_view key, bool allow_catch_all, std::string* out) {
  if (key.empty() || key.size() > 64 + 1 + 253) return false;
  size_t at = key.find('@');
  if (at == std::string_view::npos || key.find('@', at + 1) != std::string_view::npos) return false;
  if (at == 0 && !allow_catch_all) return false;
  out->assign(key);
  for (char& c : *out) {
    unsigned char u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u >= 0x7f) return false;
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return true;
}

enum Query { kSettings, kUserByAddress, kAllUsers, kAliasBySource, kAllAliases, kDestinations, kQueryCount };

constexpr const char* kSql[kQueryCount] = {
    "SELECT name, value FROM settings",
    "SELECT u.address, u.local, d.name, u.name FROM users u JOIN domains d ON d.id = u.domain_id "
    "WHERE u.address = ?1",
    "SELECT u.address, u.local, d.name, u.name FROM users u JOIN domains d ON d.id = u.domain_id "
    "ORDER BY u.address",
    "SELECT a.id, a.source, d.name FROM aliases a JOIN domains d ON d.id = a.domain_id WHERE a.source = ?1",
    "SELECT a.id, a.source, d.name FROM aliases a JOIN domains d ON d.id = a.domain_id ORDER BY a.source",
    "SELECT destination FROM alias_destinations WHERE alias_id = ?1 ORDER BY position, destination",
};

static_assert(kQueryCount <= Reader::kSlots);

// The reader's statement for `q`.
sqlite3_stmt* query(Reader& r, Query q, int* rc) { return r.stmt(q, kSql[q], rc); }

// A text column as a string_view; false for NULL or an embedded NUL.
bool column_text(sqlite3_stmt* s, int i, std::string_view* out) {
  const unsigned char* text = sqlite3_column_text(s, i);
  if (text == nullptr) return false;
  int n = sqlite3_column_bytes(s, i);
  *out = std::string_view(reinterpret_cast<const char*>(text), static_cast<size_t>(n));
  return out->find('\0') == std::string_view::npos;
}

// The settings a lookup uses: explicit ones, else recorded, else defaults.
struct Resolved {
  std::string mail_dir;
  uint32_t uid = 0;
  uint32_t gid = 0;
};

LookupStatus resolve(Reader& r, const Settings& settings, Resolved* out, LookupFailure* failure) {
  int rc = SQLITE_OK;
  sqlite3_stmt* s = query(r, kSettings, &rc);
  if (s == nullptr) return sqlite_failure(rc, r.path(), r.db(), failure);
  Resetter reset(s);
  std::map<std::string, std::string> recorded;
  while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
    std::string_view name, value;
    if (!column_text(s, 0, &name) || !column_text(s, 1, &value)) continue;
    recorded.emplace(name, value);
  }
  if (rc != SQLITE_DONE) return sqlite_failure(rc, r.path(), r.db(), failure);
  Settings applied = settings;
  if (Status st = apply_recorded(applied, recorded); !st.ok()) {
    set_failure(failure, st.code(), st.message());
    return LookupStatus::kUnavailable;
  }
  if (!row_safe_mail_dir(applied.mail_dir)) {
    set_failure(failure, Code::kConfig,
                "VMAIL_MAIL_DIR " + quote(applied.mail_dir) + ": not usable as a home folder base");
    return LookupStatus::kUnavailable;
  }
  out->mail_dir = std::move(applied.mail_dir);
  out->uid = applied.uid;
  out->gid = applied.gid;
  return LookupStatus::kFound;
}

// Builds the entry for the current row of a users query; false for an unsafe row.
bool read_user(sqlite3_stmt* s, const Resolved& resolved, PasswdEntry* out) {
  std::string_view address, local, domain, name;
  if (!column_text(s, 0, &address) || !column_text(s, 1, &local) || !column_text(s, 2, &domain) ||
      !column_text(s, 3, &name)) {
    return false;
  }
  if (!row_safe_user(address, local, domain) || !row_safe_display_name(name)) return false;
  out->name.assign(address);
  out->gecos.assign(name);
  out->dir = resolved.mail_dir;
  out->dir += '/';
  out->dir += domain;
  out->dir += '/';
  out->dir += local;
  out->uid = resolved.uid;
  out->gid = resolved.gid;
  return true;
}

// Builds the entry for the current row of an aliases query (and reads its
// destinations); false for an unsafe row, rc set on a database error.
bool read_alias(Reader& r, sqlite3_stmt* s, AliasEntry* out, int* rc) {
  *rc = SQLITE_OK;
  std::string_view source, domain;
  if (!column_text(s, 1, &source) || !column_text(s, 2, &domain) || !row_safe_alias_source(source)) return false;
  if (source.substr(source.find('@') + 1) != domain) return false;
  sqlite3_int64 id = sqlite3_column_int64(s, 0);

  sqlite3_stmt* d = query(r, kDestinations, rc);
  if (d == nullptr) return false;
  Resetter reset(d);
  sqlite3_bind_int64(d, 1, id);
  out->name.assign(source);
  out->members.clear();
  while ((*rc = sqlite3_step(d)) == SQLITE_ROW) {
    std::string_view member;
    // An unsafe destination is left out and the safe ones kept, as in the
    // exported `virtual` map (see core/row_policy.h for why).
    if (column_text(d, 0, &member) && row_safe_address(member)) out->members.emplace_back(member);
  }
  if (*rc != SQLITE_DONE) return false;
  *rc = SQLITE_OK;
  return !out->members.empty();
}

// Copies `text` with its NUL into the buffer at *pos; false when it does not fit.
bool put_string(std::string_view text, char* buffer, size_t buflen, size_t* pos, char** out) {
  if (buflen - *pos < text.size() + 1) return false;
  *out = buffer + *pos;
  std::memcpy(*out, text.data(), text.size());
  (*out)[text.size()] = '\0';
  *pos += text.size() + 1;
  return true;
}

EnvReader secure_env() {
  return [](const std::string& name) -> std::optional<std::string> {
    const char* v = ::secure_getenv(name.c_str());
    if (v == nullptr || *v == '\0') return std::nullopt;
    return std::string(v);
  };
}

// The one guard of every entry point: NSS callers are C code, so nothing may
// throw past it. Out of memory is worth another try; anything else is a fault.
template <typename Body>
LookupStatus guarded(LookupFailure* failure, Body&& body) noexcept {
  try {
    return body();
  } catch (const std::bad_alloc&) {
    set_failure(failure, Code::kInternal, "out of memory");
    return LookupStatus::kTryAgain;
  } catch (...) {
    return LookupStatus::kUnavailable;
  }
}

}  // namespace

LookupStatus nss_settings(Settings* out, LookupFailure* failure) noexcept {
  return guarded(failure, [&]() -> LookupStatus {
    auto s = load_settings({}, secure_env());
    if (!s.ok()) {
      set_failure(failure, s.status().code(), s.status().message());
      return LookupStatus::kUnavailable;
    }
    *out = std::move(*s);
    return LookupStatus::kFound;
  });
}

LookupStatus lookup_passwd(const Settings& settings, std::string_view key, PasswdEntry* out,
                           LookupFailure* failure) noexcept {
  return guarded(failure, [&]() -> LookupStatus {
    std::string address;
    if (!normalize_key(key, false, &address)) return LookupStatus::kNotFound;
    return with_reader(settings.db, failure, [&](Reader& r) {
      Resolved resolved;
      if (LookupStatus st = resolve(r, settings, &resolved, failure); st != LookupStatus::kFound) return st;
      int rc = SQLITE_OK;
      sqlite3_stmt* s = query(r, kUserByAddress, &rc);
      if (s == nullptr) return sqlite_failure(rc, r.path(), r.db(), failure);
      Resetter reset(s);
      sqlite3_bind_text(s, 1, address.data(), static_cast<int>(address.size()), SQLITE_STATIC);
      rc = sqlite3_step(s);
      if (rc == SQLITE_ROW) return read_user(s, resolved, out) ? LookupStatus::kFound : LookupStatus::kNotFound;
      if (rc == SQLITE_DONE) return LookupStatus::kNotFound;
      return sqlite_failure(rc, r.path(), r.db(), failure);
    });
  });
}

LookupStatus list_passwd(const Settings& settings, std::vector<PasswdEntry>* out, LookupFailure* failure) noexcept {
  return guarded(failure, [&]() -> LookupStatus {
    return with_reader(settings.db, failure, [&](Reader& r) {
      out->clear();
      Resolved resolved;
      if (LookupStatus st = resolve(r, settings, &resolved, failure); st != LookupStatus::kFound) return st;
      int rc = SQLITE_OK;
      sqlite3_stmt* s = query(r, kAllUsers, &rc);
      if (s == nullptr) return sqlite_failure(rc, r.path(), r.db(), failure);
      Resetter reset(s);
      PasswdEntry entry;
      while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        if (read_user(s, resolved, &entry)) out->push_back(entry);
      }
      if (rc != SQLITE_DONE) return sqlite_failure(rc, r.path(), r.db(), failure);
      return LookupStatus::kFound;
    });
  });
}

LookupStatus lookup_alias(const Settings& settings, std::string_view key, AliasEntry* out,
                          LookupFailure* failure) noexcept {
  return guarded(failure, [&]() -> LookupStatus {
    std::string source;
    if (!normalize_key(key, true, &source)) return LookupStatus::kNotFound;
    return with_reader(settings.db, failure, [&](Reader& r) {
      int rc = SQLITE_OK;
      sqlite3_stmt* s = query(r, kAliasBySource, &rc);
      if (s == nullptr) return sqlite_failure(rc, r.path(), r.db(), failure);
      Resetter reset(s);
      sqlite3_bind_text(s, 1, source.data(), static_cast<int>(source.size()), SQLITE_STATIC);
      rc = sqlite3_step(s);
      if (rc == SQLITE_DONE) return LookupStatus::kNotFound;
      if (rc != SQLITE_ROW) return sqlite_failure(rc, r.path(), r.db(), failure);
      if (read_alias(r, s, out, &rc)) return LookupStatus::kFound;
      return rc == SQLITE_OK ? LookupStatus::kNotFound : sqlite_failure(rc, r.path(), r.db(), failure);
    });
  });
}

LookupStatus list_aliases(const Settings& settings, std::vector<AliasEntry>* out, LookupFailure* failure) noexcept {
  return guarded(failure, [&]() -> LookupStatus {
    return with_reader(settings.db, failure, [&](Reader& r) {
      out->clear();
      int rc = SQLITE_OK;
      sqlite3_stmt* s = query(r, kAllAliases, &rc);
      if (s == nullptr) return sqlite_failure(rc, r.path(), r.db(), failure);
      Resetter reset(s);
      // The destinations are read while this statement holds its read
      // transaction open: one snapshot for the whole list.
      AliasEntry entry;
      while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        int drc = SQLITE_OK;
        if (read_alias(r, s, &entry, &drc)) out->push_back(entry);
        if (drc != SQLITE_OK) return sqlite_failure(drc, r.path(), r.db(), failure);
      }
      if (rc != SQLITE_DONE) return sqlite_failure(rc, r.path(), r.db(), failure);
      return LookupStatus::kFound;
    });
  });
}

LookupStatus fill_passwd(const PasswdEntry& e, struct passwd* result, char* buffer, size_t buflen) noexcept {
  size_t pos = 0;
  char* shell = nullptr;
  char* passwd = nullptr;
  if (buffer == nullptr || !put_string(e.name, buffer, buflen, &pos, &result->pw_name) ||
      !put_string("x", buffer, buflen, &pos, &passwd) ||
      !put_string(e.gecos, buffer, buflen, &pos, &result->pw_gecos) ||
      !put_string(e.dir, buffer, buflen, &pos, &result->pw_dir) ||
      !put_string(kNssShell, buffer, buflen, &pos, &shell)) {
    return LookupStatus::kBufferTooSmall;
  }
  result->pw_passwd = passwd;
  result->pw_shell = shell;
  result->pw_uid = e.uid;
  result->pw_gid = e.gid;
  return LookupStatus::kFound;
}

LookupStatus fill_alias(const AliasEntry& e, struct aliasent* result, char* buffer, size_t buflen) noexcept {
  if (buffer == nullptr) return LookupStatus::kBufferTooSmall;
  // The member pointer array comes first, aligned for char*.
  size_t pad = (alignof(char*) - reinterpret_cast<uintptr_t>(buffer) % alignof(char*)) % alignof(char*);
  size_t array = pad + e.members.size() * sizeof(char*);
  if (buflen < array) return LookupStatus::kBufferTooSmall;
  char** members = reinterpret_cast<char**>(buffer + pad);
  size_t pos = array;
  if (!put_string(e.name, buffer, buflen, &pos, &result->alias_name)) return LookupStatus::kBufferTooSmall;
  for (size_t i = 0; i < e.members.size(); ++i) {
    if (!put_string(e.members[i], buffer, buflen, &pos, &members[i])) return LookupStatus::kBufferTooSmall;
  }
  result->alias_members = members;
  result->alias_members_len = e.members.size();
  result->alias_local = 0;
  return LookupStatus::kFound;
}

std::string passwd_line(const PasswdEntry& e) {
  std::string line = e.name + ":x:";
  // putpwent(3) keeps the old NIS netgroup form for '+' and '-' names.
  if (e.name.empty() || (e.name[0] != '+' && e.name[0] != '-')) {
    line += std::to_string(e.uid) + ":" + std::to_string(e.gid);
  } else {
    line += ":";
  }
  line += ":" + e.gecos + ":" + e.dir + ":" + kNssShell + "\n";
  return line;
}

std::string alias_line(const AliasEntry& e) {
  std::string line = e.name + ": ";
  if (e.name.size() < 14) line.append(14 - e.name.size(), ' ');
  for (size_t i = 0; i < e.members.size(); ++i) {
    line += e.members[i];
    line += i + 1 == e.members.size() ? "\n" : ", ";
  }
  return line;
}

void lookup_forget_connection() noexcept { forget_reader(); }

}  // namespace vmail
