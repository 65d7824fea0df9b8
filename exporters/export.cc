// The export's orchestration: render every file of the table from one
// snapshot, plan (what changed, the rename order), then stage and commit
// (export_stage.h) under the export lock (export_lock.h).
#include "exporters/export.h"

#include <spdlog/spdlog.h>

#include <chrono>
#include <set>
#include <string_view>

#include "core/files.h"
#include "core/row_policy.h"
#include "core/store.h"
#include "exporters/export_lock.h"
#include "exporters/export_stage.h"
#include "exporters/map_delta.h"
#include "exporters/postfix_maps.h"
#include "exporters/routes.h"

namespace vmail {
namespace {

class Stopwatch {
 public:
  double lap_ms() {
    auto now = std::chrono::steady_clock::now();
    double ms = std::chrono::duration<double, std::milli>(now - last_).count();
    last_ = now;
    return ms;
  }

 private:
  std::chrono::steady_clock::time_point last_ = std::chrono::steady_clock::now();
};

// The mail folder is part of every users line: a ':' or a control character
// in it (from the environment or a recorded setting) would corrupt them all.
// The same rule as the NSS module's homes (core/row_policy.h).
Status check_mail_dir(const std::string& mail_dir) {
  if (row_safe_mail_dir(mail_dir)) return Status::Ok();
  return Status(Code::kConfig, "VMAIL_MAIL_DIR " + quote(mail_dir) +
                                   ": not usable as a home folder base (must be absolute, without '.' or '..', "
                                   "':' or a control character)");
}

// The addresses of a users file, one per line before the first ':'.
std::set<std::string_view> users_addresses(std::string_view text) {
  std::set<std::string_view> out;
  while (!text.empty()) {
    size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    out.insert(line.substr(0, line.find(':')));
    text.remove_prefix(nl == std::string_view::npos ? text.size() : nl + 1);
  }
  return out;
}

// True when the new mailbox list drops an address the one on disk has.
Result<bool> loses_an_address(const ExportedFile& list) {
  auto old = read_file(list.path);
  if (!old.ok()) return old.status();
  if (!*old) return false;
  std::set<std::string_view> now = users_addresses(list.content);
  for (std::string_view a : users_addresses(**old)) {
    if (!now.contains(a)) return true;
  }
  return false;
}

// What one export will do, decided before anything is written.
struct ExportPlan {
  std::vector<const ExportedFile*> changed;  // in render order
  std::vector<std::string> unchanged;
  // The order the changed files' commit groups are renamed in. No recipient
  // may ever be accepted by Postfix that Dovecot cannot deliver to (LMTP
  // 550, a bounce) or log in: additions reach Dovecot's users file first
  // (the delivery group), then the Postfix maps (the acceptance group); when
  // the mailbox list (the users file) loses an address, the Postfix maps stop
  // accepting it first. An export that does both (after --no-export) renames
  // the maps first: mail for a new address is deferred by Postfix's own
  // "unknown" for the moment between two renames, never bounced by Dovecot.
  bool delivery_first = true;
};

Result<ExportPlan> plan_export(const std::vector<ExportedFile>& files) {
  ExportPlan plan;
  for (const ExportedFile& f : files) {
    auto same = export_in_sync(f);
    if (!same.ok()) return same.status();
    if (*same) {
      plan.unchanged.push_back(f.path);
      continue;
    }
    for (const std::string& target :
         !f.map_type.empty()
             ? std::vector<std::string>{f.path, map_database_path(f.path, f.map_type), map_digest_path(f.path)}
             : std::vector<std::string>{f.path}) {
      if (Status s = check_target(target); !s.ok()) return s;
    }
    if (f.spec->mailbox_list) {
      auto loses = loses_an_address(f);
      if (!loses.ok()) return loses.status();
      plan.delivery_first = !*loses;
    }
    plan.changed.push_back(&f);
  }
  return plan;
}

}  // namespace

Result<std::vector<ExportedFile>> render_exports(Database& db, const Settings& settings, const ExportTable& table) {
  if (Status s = check_mail_dir(settings.mail_dir); !s.ok()) return s;
  Store store(db);
  auto snap = store.snapshot();
  if (!snap.ok()) return snap.status();
  DkimWarn warn = [](const std::string& why) { spdlog::warn("{}", why); };
  CheckedRows rows = check_rows(*snap, warn);
  // One virtual map and one walk of it for the three files that follow it.
  VirtualMap virtual_map = build_virtual_map(rows, warn);
  Routes routes(rows, virtual_map.lines);
  // A shared store (PostgreSQL): only the keys whose private file is on
  // this node can sign here.
  DkimUsable usable;
  if (!settings.upstream.empty()) {
    usable = [&settings](const DkimKey& k) {
      std::string path = dkim_key_path(settings, k.domain, k.selector);
      if (file_exists(path)) return true;
      spdlog::debug("DKIM key {} of {}: no private key file {} on this node, not exported", k.selector, k.domain, path);
      return false;
    };
  }
  RenderInput input{*snap, rows, virtual_map, routes, settings, warn, usable};
  std::vector<ExportedFile> files;
  files.reserve(table.size());
  for (const ExportedFileSpec& spec : table) {
    files.push_back({&spec, export_path(spec, settings), export_map_type(spec, settings), spec.render(input)});
  }
  return files;
}

Result<ExportReport> export_all(Database& db, const Settings& settings, const ExportTable& table) {
  Stopwatch clock;
  auto lock = ExportLock::acquire(db.path());
  if (!lock.ok()) return lock.status();
  double lock_ms = clock.lap_ms();
  auto files = render_exports(db, settings, table);
  if (!files.ok()) return files.status();
  auto plan = plan_export(*files);
  if (!plan.ok()) return plan.status();
  double render_ms = clock.lap_ms();

  ExportReport report;
  report.unchanged = plan->unchanged;
  Stage stage(db.path());
  for (const ExportedFile* f : plan->changed) {
    if (Status s = stage.add(*f); !s.ok()) return s;
  }
  double stage_ms = clock.lap_ms();
  if (Status s = stage.wait(); !s.ok()) return s;
  double postmap_ms = clock.lap_ms();
  if (Status s = stage.commit(plan->delivery_first, &report.written); !s.ok()) return s;
  spdlog::debug(
      "export: lock {:.1f} ms, snapshot+render+plan {:.1f} ms, stage {:.1f} ms, postmap wait {:.1f} ms, rename {:.1f} "
      "ms",
      lock_ms, render_ms, stage_ms, postmap_ms, clock.lap_ms());
  return report;
}

Result<std::vector<std::string>> export_out_of_sync(Database& db, const Settings& settings, const ExportTable& table) {
  auto files = render_exports(db, settings, table);
  if (!files.ok()) return files.status();
  std::vector<std::string> out;
  for (const ExportedFile& f : *files) {
    auto same = export_in_sync(f);
    if (!same.ok() || !*same) out.push_back(f.path);
  }
  return out;
}

}  // namespace vmail
