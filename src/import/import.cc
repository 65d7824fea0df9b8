#include "import/import.h"

#include <algorithm>
#include <chrono>
#include <map>
#include <optional>
#include <set>
#include <thread>
#include <unordered_map>

#include <spdlog/spdlog.h>
#include <nlohmann/json.hpp>

#include "core/files.h"
#include "core/maildir.h"
#include "core/parallel.h"
#include "core/password.h"
#include "core/routing.h"
#include "core/store.h"
#include "core/validate.h"

namespace vmail {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

unsigned thread_count(unsigned jobs) {
  if (jobs > 0) return jobs;
  unsigned n = std::thread::hardware_concurrency();
  return n > 0 ? n : 1;
}

// parallel_for with the import's progress callback, labelled with `stage`.
Status run_stage(size_t n, unsigned threads, std::string_view stage, const ImportOptions& options,
                 const std::function<Status(size_t)>& fn) {
  ParallelProgress progress;
  if (options.progress) progress = [&](size_t done, size_t total) { options.progress(stage, done, total); };
  return parallel_for(n, threads, fn, progress);
}

// Maps the table's columns to their roles; an unknown or doubled column is an
// error at the header line.
struct ColumnMap {
  std::vector<std::pair<std::string_view, int*>> roles;

  bool apply(const SourceTable& table, std::vector<LineError>& errors) const {
    bool ok = true;
    std::string expected;
    for (const auto& [name, index] : roles) expected += (expected.empty() ? "" : ", ") + std::string(name);
    for (size_t i = 0; i < table.columns.size(); ++i) {
      const std::string& column = table.columns[i];
      auto role = std::find_if(roles.begin(), roles.end(), [&](const auto& r) { return r.first == column; });
      if (role == roles.end()) {
        errors.push_back(
            {table.header_line, "column " + quote(column) + ": unknown column (expected " + expected + ")"});
        ok = false;
      } else if (*role->second >= 0) {
        errors.push_back({table.header_line, "column " + quote(column) + ": given twice"});
        ok = false;
      } else {
        *role->second = static_cast<int>(i);
      }
    }
    return ok;
  }
};

std::string_view field(const SourceRow& row, int index) {
  return index < 0 ? std::string_view() : std::string_view(row.fields[static_cast<size_t>(index)]);
}

void sort_errors(std::vector<LineError>& errors) {
  std::stable_sort(errors.begin(), errors.end(),
                   [](const LineError& a, const LineError& b) { return a.line < b.line; });
}

// Users -------------------------------------------------------------------

enum class Action { kCreate, kUpdate, kSkip };

struct UserRow {
  size_t line = 0;
  User user;
  std::string plaintext;  // the row's password until it is hashed
  Action action = Action::kCreate;
  int64_t domain_id = 0;
};

struct UserColumns {
  int email = -1, password = -1, password_hash = -1, quota = -1, name = -1, enabled = -1;
};

// One row through the same checks as `vmail user add`.
Result<UserRow> check_user_row(const SourceRow& row, const UserColumns& c) {
  // Columns swapped by mistake: a hash is never quoted as a bad address.
  if (field(row, c.email).substr(0, 1) == "{") {
    return Status(Code::kBadInput, "email: a {SCHEME}hash, not an address (are the columns swapped?)");
  }
  auto address = parse_address(field(row, c.email), "email");
  if (!address.ok()) return address.status();
  UserRow out;
  out.line = row.line;
  out.user.address = address->str();
  out.user.local = address->local;
  out.user.domain = address->domain;
  std::string_view password = field(row, c.password);
  std::string_view hash = field(row, c.password_hash);
  if (!password.empty() && !hash.empty()) {
    return Status(Code::kBadInput, "both password and password_hash given (one per row)");
  }
  if (password.empty() && hash.empty()) {
    return Status(Code::kBadInput, "neither password nor password_hash given");
  }
  if (!password.empty()) {
    if (Status s = check_password(password, "password"); !s.ok()) return s;
    out.plaintext = password;
  } else {
    if (Status s = check_hash(hash, "password_hash"); !s.ok()) return s;
    out.user.password = hash;
  }
  if (std::string_view quota = field(row, c.quota); !quota.empty()) {
    auto q = parse_quota(quota, "quota");
    if (!q.ok()) return q.status();
    out.user.quota = *q;
  }
  if (Status s = check_display_name(field(row, c.name), "name"); !s.ok()) return s;
  out.user.name = field(row, c.name);
  auto enabled = parse_boolean(field(row, c.enabled), true, "enabled");
  if (!enabled.ok()) return enabled.status();
  out.user.enabled = *enabled;
  return out;
}

// Every row through check_user_row on `threads` threads (checking a hash at
// depth costs as much as parsing its line), then duplicates in file order.
std::vector<UserRow> check_user_rows(const std::vector<SourceRow>& source, const UserColumns& c, unsigned threads,
                                     std::vector<LineError>& errors) {
  std::vector<std::optional<UserRow>> checked(source.size());
  std::vector<std::string> reasons(source.size());
  Status all = parallel_for(source.size(), threads, [&](size_t i) {
    auto row = check_user_row(source[i], c);
    if (row.ok()) {
      checked[i] = std::move(*row);
    } else {
      reasons[i] = row.status().message();
    }
    return Status::Ok();
  });
  (void)all;  // the function never fails: bad rows are in `reasons`
  std::vector<UserRow> rows;
  rows.reserve(source.size());
  std::unordered_map<std::string, size_t> seen;  // address -> line
  for (size_t i = 0; i < source.size(); ++i) {
    if (!checked[i]) {
      errors.push_back({source[i].line, std::move(reasons[i])});
      continue;
    }
    auto [it, fresh] = seen.emplace(checked[i]->user.address, checked[i]->line);
    if (!fresh) {
      errors.push_back({source[i].line, "email " + quote(checked[i]->user.address) + ": duplicate of line " +
                                            std::to_string(it->second)});
      continue;
    }
    rows.push_back(std::move(*checked[i]));
  }
  return rows;
}

// New users whose leftover maildir holds mail they would inherit are bad rows
// unless `reuse`; one with a symlink where a folder would be fails the import
// (73) even then. The rule of `user add` (leftover_holds_mail): one failed
// openat per row when there is no maildir, on `threads` threads.
Status check_leftover_maildirs(const Settings& settings, const std::vector<UserRow>& rows, bool reuse, unsigned threads,
                               std::vector<LineError>& errors) {
  std::map<std::string, std::optional<Dir>> domains;  // each domain folder opened once
  for (const UserRow& row : rows) {
    if (row.action != Action::kCreate || domains.count(row.user.domain)) continue;
    auto dir = open_domain_dir(settings.mail_dir, row.user.domain);
    if (!dir.ok()) return dir.status();
    domains.emplace(row.user.domain, std::move(*dir));
  }
  std::vector<char> holds(rows.size(), 0);
  Status s = parallel_for(rows.size(), threads, [&](size_t i) -> Status {
    if (rows[i].action != Action::kCreate) return Status::Ok();
    const std::optional<Dir>& dir = domains.at(rows[i].user.domain);
    if (!dir) return Status::Ok();
    auto found = leftover_holds_mail(*dir, rows[i].user.local);
    if (!found.ok()) return found.status();
    holds[i] = *found ? 1 : 0;
    return Status::Ok();
  });
  if (!s.ok()) return s;
  for (size_t i = 0; i < rows.size(); ++i) {
    if (holds[i] == 0 || reuse) continue;
    const User& u = rows[i].user;
    errors.push_back({rows[i].line, "email " + quote(u.address) + ": leftover maildir " + settings.mail_dir + "/" +
                                        u.domain + "/" + u.local + " holds mail (see --reuse-maildirs)"});
  }
  return Status::Ok();
}

// Decides each row's action against the database; conflicts become errors.
void check_users_in_db(StoreBatch& look, std::vector<UserRow>& rows, OnExisting on_existing,
                       std::vector<LineError>& errors) {
  for (UserRow& row : rows) {
    auto id = look.domain_id(row.user.domain);
    if (!id.ok()) {
      errors.push_back({row.line, id.status().message()});
      continue;
    }
    row.domain_id = *id;
    if (look.user_exists(row.user.address)) {
      switch (on_existing) {
        case OnExisting::kFail:
          errors.push_back(
              {row.line, "email " + quote(row.user.address) + ": user already exists (see --on-existing skip|update)"});
          break;
        case OnExisting::kSkip: row.action = Action::kSkip; break;
        case OnExisting::kUpdate: row.action = Action::kUpdate; break;
      }
    } else if (look.alias_id(row.user.address)) {
      errors.push_back({row.line, "email " + quote(row.user.address) + ": already an alias source"});
    } else {
      row.action = Action::kCreate;
    }
  }
}

void count_actions(const std::vector<UserRow>& rows, ImportReport& report) {
  report.created = report.updated = report.skipped = 0;
  for (const UserRow& row : rows) {
    if (row.action == Action::kCreate) ++report.created;
    if (row.action == Action::kUpdate) ++report.updated;
    if (row.action == Action::kSkip) ++report.skipped;
  }
}

void write_users(StoreBatch& batch, const std::vector<UserRow>& rows, const UserColumns& c) {
  // Columns absent from the file keep their value.
  const StoreBatch::UserFields fields{c.name >= 0, c.quota >= 0, c.enabled >= 0};
  for (const UserRow& row : rows) {
    if (row.action == Action::kCreate) batch.add_user(row.domain_id, row.user);
    if (row.action == Action::kUpdate) batch.update_user(row.user, fields);
  }
}

// Aliases -----------------------------------------------------------------

struct AliasRow {
  size_t line = 0;
  Address source;
  std::string source_text;  // local@domain or @domain
  std::vector<std::string> destinations;
  int64_t domain_id = 0;
  std::optional<int64_t> alias_id;  // set when the alias exists already
};

void check_aliases_in_db(StoreBatch& look, std::vector<AliasRow>& rows, std::vector<LineError>& errors) {
  for (AliasRow& row : rows) {
    auto id = look.domain_id(row.source.domain);
    if (!id.ok()) {
      errors.push_back({row.line, id.status().message()});
      continue;
    }
    row.domain_id = *id;
    if (look.user_exists(row.source_text)) {
      errors.push_back({row.line, "source " + quote(row.source_text) + ": already a mailbox"});
      continue;
    }
    row.alias_id = look.alias_id(row.source_text);
    if (!row.alias_id) continue;
    for (const std::string& dest : row.destinations) {
      if (look.has_destination(*row.alias_id, dest)) {
        errors.push_back(
            {row.line, "destination " + quote(dest) + ": already a destination of " + quote(row.source_text)});
        break;
      }
    }
  }
}

void count_aliases(const std::vector<AliasRow>& rows, ImportReport& report) {
  report.created = report.updated = 0;
  for (const AliasRow& row : rows) ++(row.alias_id ? report.updated : report.created);
}

void write_aliases(StoreBatch& batch, const std::vector<AliasRow>& rows) {
  for (const AliasRow& row : rows) batch.add_alias(row.domain_id, row.source_text, row.alias_id, row.destinations);
}

// The one audit log entry of an import: counts, never rows (and so never a
// password or hash).
void record_import(StoreBatch& batch, const ImportOptions& options, std::string_view action,
                   const ImportReport& counts) {
  nlohmann::json result{{"created", counts.created}, {"updated", counts.updated}, {"skipped", counts.skipped}};
  batch.audit(action, options.source_name, nullptr, result);
}

// Rows a check found bad are left out of the plan but counted.
Status changed_meanwhile() {
  return Status(Code::kBusy, "the database changed while the passwords were hashed; nothing was written, run again");
}

}  // namespace

Result<ImportReport> import_users(Database& db, const Settings& settings, std::string_view data,
                                  const ImportOptions& options) {
  const auto start = Clock::now();
  ImportReport report;
  SourceTable table = options.format == ImportFormat::kDms ? read_dms_accounts(data) : read_csv(data);
  report.errors = std::move(table.errors);
  report.warnings = std::move(table.warnings);
  report.rows = table.rows.size() + report.errors.size();
  spdlog::debug("import: {} rows parsed in {:.3f} s", report.rows, seconds_since(start));
  UserColumns c;
  ColumnMap columns{{{"email", &c.email},
                     {"password", &c.password},
                     {"password_hash", &c.password_hash},
                     {"quota", &c.quota},
                     {"name", &c.name},
                     {"enabled", &c.enabled}}};
  if (table.columns.empty()) return report;  // empty file: already an error
  if (!columns.apply(table, report.errors)) {
    sort_errors(report.errors);
    return report;
  }
  if (c.email < 0) report.errors.push_back({table.header_line, "header: no \"email\" column"});
  if (c.password < 0 && c.password_hash < 0) {
    report.errors.push_back({table.header_line, "header: needs a \"password\" or \"password_hash\" column"});
  }
  if (c.email < 0 || (c.password < 0 && c.password_hash < 0)) {
    sort_errors(report.errors);
    return report;
  }
  if (table.rows.empty() && report.errors.empty()) {
    report.errors.push_back({table.header_line, "no rows after the header: nothing to import"});
    return report;
  }

  const unsigned threads = thread_count(options.jobs);
  std::vector<UserRow> rows = check_user_rows(table.rows, c, threads, report.errors);
  spdlog::debug("import: rows validated on {} threads at {:.3f} s", threads, seconds_since(start));

  // Check against the database before the slow part (hashing, maildirs);
  // the write transaction checks again.
  Store store(db, options.actor);
  Status read = store.read_batch([&](StoreBatch& batch) -> Status {
    check_users_in_db(batch, rows, options.on_existing, report.errors);
    return Status::Ok();
  });
  if (!read.ok()) return read;
  spdlog::debug("import: rows checked against the database at {:.3f} s", seconds_since(start));
  if (report.errors.empty()) {
    if (Status s = check_leftover_maildirs(settings, rows, options.reuse_maildirs, threads, report.errors); !s.ok()) {
      return s;
    }
  }
  sort_errors(report.errors);
  spdlog::debug("import: {} rows read and checked in {:.3f} s", report.rows, seconds_since(start));
  if (!report.errors.empty()) return report;
  count_actions(rows, report);
  if (options.dry_run) return report;

  // Hash on all cores; skipped rows need no hash.
  std::vector<size_t> to_hash;
  for (size_t i = 0; i < rows.size(); ++i) {
    if (!rows[i].plaintext.empty() && rows[i].action != Action::kSkip) to_hash.push_back(i);
  }
  auto phase = Clock::now();
  Status hashed = run_stage(to_hash.size(), threads, "hashing", options, [&](size_t i) -> Status {
    UserRow& row = rows[to_hash[i]];
    auto hash = hash_password(row.plaintext, settings.scheme);
    if (!hash.ok()) {
      return Status(hash.status().code(), "line " + std::to_string(row.line) + ": " + hash.status().message());
    }
    row.user.password = std::move(*hash);
    row.plaintext.clear();
    return Status::Ok();
  });
  if (!hashed.ok()) return hashed;
  spdlog::debug("import: {} passwords hashed on {} threads in {:.3f} s", to_hash.size(), threads, seconds_since(phase));

  // No maildirs: Dovecot makes a missing one, as the user, at the first
  // delivery or login (tests/e2e/test_import.py proves it with the real
  // daemons); making 100k of them one by one took 15 s of a 16 s import.
  // Only each domain's folder is made, so that Dovecot can write into it.
  phase = Clock::now();
  std::set<std::string> domains;
  for (const UserRow& row : rows) {
    if (row.action == Action::kCreate) domains.insert(row.user.domain);
  }
  for (const std::string& domain : domains) {
    if (Status s = create_domain_dir(settings.mail_dir, domain, settings.uid, settings.gid); !s.ok()) return s;
  }
  std::vector<LineError> conflicts;
  Status written = store.write_batch([&](StoreBatch& batch) -> Status {
    check_users_in_db(batch, rows, options.on_existing, conflicts);
    if (!conflicts.empty()) return Status(Code::kBadInput, "conflicts");
    for (const UserRow& row : rows) {
      if (row.action != Action::kSkip && row.user.password.empty()) return changed_meanwhile();
      if (row.action == Action::kCreate && !domains.count(row.user.domain)) return changed_meanwhile();
    }
    write_users(batch, rows, c);
    ImportReport counts;
    count_actions(rows, counts);
    if (counts.created + counts.updated > 0) record_import(batch, options, "user import", counts);
    if (options.before_commit) options.before_commit();
    return Status::Ok();
  });
  spdlog::debug("import: written and committed in {:.3f} s", seconds_since(phase));
  if (!conflicts.empty()) {
    report.errors = std::move(conflicts);
    sort_errors(report.errors);
    return report;
  }
  if (!written.ok()) return written;
  count_actions(rows, report);
  report.written = report.created + report.updated > 0;
  return report;
}

// The rows' aliases take part in the loop check (SPEC: alias destinations
// never form a cycle) whether or not they are written yet: a row's source
// leads to its destinations, and to those it already had. False, with the
// cycle reported on the line of its first row, when there is one.
bool no_loop(StoreBatch& batch, const std::vector<AliasRow>& rows, std::vector<LineError>& errors) {
  std::unordered_map<std::string, const AliasRow*> by_source;
  std::vector<std::string> starts;
  for (const AliasRow& row : rows) {
    by_source.emplace(row.source_text, &row);
    starts.push_back(row.source_text);
  }
  auto stored = [&batch](const std::string& address) { return batch.stored_hops(address); };
  auto next = [&](const std::string& address) {
    auto it = by_source.find(address);
    if (it == by_source.end()) return stored(address);
    std::vector<std::string> hops = it->second->destinations;
    if (it->second->alias_id) {
      for (std::string& d : stored(address)) hops.push_back(std::move(d));
    }
    return hops;
  };
  std::vector<std::string> cycle = find_cycle(starts, next);
  if (cycle.empty()) return true;
  size_t line = 0;
  for (const std::string& a : cycle) {
    if (auto it = by_source.find(a); it != by_source.end()) {
      line = it->second->line;
      break;
    }
  }
  errors.push_back({line, loop_status(cycle, "alias").message()});
  return false;
}

Result<ImportReport> import_aliases(Database& db, std::string_view data, const ImportOptions& options) {
  ImportReport report;
  SourceTable table = options.format == ImportFormat::kDms ? read_dms_virtual(data) : read_csv(data);
  report.errors = std::move(table.errors);
  report.warnings = std::move(table.warnings);
  report.rows = table.rows.size() + report.errors.size();
  int source_col = -1;
  int dest_col = -1;
  ColumnMap columns{{{"source", &source_col}, {"destination", &dest_col}}};
  if (table.columns.empty()) return report;
  if (!columns.apply(table, report.errors)) {
    sort_errors(report.errors);
    return report;
  }
  if (source_col < 0 || dest_col < 0) {
    report.errors.push_back({table.header_line, "header: needs \"source\" and \"destination\" columns"});
    sort_errors(report.errors);
    return report;
  }
  if (table.rows.empty() && report.errors.empty()) {
    report.errors.push_back({table.header_line, "no rows after the header: nothing to import"});
    return report;
  }

  Store store(db, options.actor);
  std::vector<AliasRow> rows;
  std::unordered_map<std::string, size_t> seen;  // source -> line
  for (const SourceRow& source : table.rows) {
    auto parsed = parse_alias_source(field(source, source_col), "source");
    if (!parsed.ok()) {
      report.errors.push_back({source.line, parsed.status().message()});
      continue;
    }
    AliasRow row;
    row.line = source.line;
    row.source = *parsed;
    row.source_text = parsed->local.empty() ? "@" + parsed->domain : parsed->str();
    auto dests = parse_destinations(field(source, dest_col), row.source_text, "destination");
    if (!dests.ok()) {
      report.errors.push_back({source.line, dests.status().message()});
      continue;
    }
    row.destinations = std::move(*dests);
    auto [it, fresh] = seen.emplace(row.source_text, row.line);
    if (!fresh) {
      report.errors.push_back(
          {source.line, "source " + quote(row.source_text) + ": duplicate of line " + std::to_string(it->second)});
      continue;
    }
    rows.push_back(std::move(row));
  }

  if (!report.errors.empty() || options.dry_run) {
    Status read = store.read_batch([&](StoreBatch& batch) -> Status {
      check_aliases_in_db(batch, rows, report.errors);
      if (report.errors.empty()) no_loop(batch, rows, report.errors);
      return Status::Ok();
    });
    if (!read.ok()) return read;
    sort_errors(report.errors);
    if (report.errors.empty()) count_aliases(rows, report);
    return report;
  }
  std::vector<LineError> conflicts;
  Status written = store.write_batch([&](StoreBatch& batch) -> Status {
    check_aliases_in_db(batch, rows, conflicts);
    if (!conflicts.empty()) return Status(Code::kBadInput, "conflicts");
    write_aliases(batch, rows);
    if (!no_loop(batch, rows, conflicts)) return Status(Code::kBadInput, "loop");
    ImportReport counts;
    count_aliases(rows, counts);
    if (!rows.empty()) record_import(batch, options, "alias import", counts);
    if (options.before_commit) options.before_commit();
    return Status::Ok();
  });
  if (!conflicts.empty()) {
    report.errors = std::move(conflicts);
    sort_errors(report.errors);
    return report;
  }
  if (!written.ok()) return written;
  count_aliases(rows, report);
  report.written = !rows.empty();
  return report;
}

}  // namespace vmail
