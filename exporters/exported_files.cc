#include "exporters/exported_files.h"

#include <sys/stat.h>

#include <algorithm>

#include "core/accounts.h"
#include "exporters/access_files.h"
#include "exporters/dovecot_users.h"

namespace vmail {
namespace {

using Renderer = std::function<std::string(RenderInput&)>;

ExportedFileSpec entry(std::string name, ExportFolder folder, ExportKind kind, mode_t mode,
                       std::optional<std::string> group, Renderer render, CommitGroup commit) {
  ExportedFileSpec spec;
  spec.name = std::move(name);
  spec.folder = folder;
  spec.kind = kind;
  spec.mode = mode;
  spec.group = std::move(group);
  spec.render = std::move(render);
  spec.commit = commit;
  return spec;
}

ExportedFileSpec postfix_map(std::string name, Renderer render) {
  return entry(std::move(name), ExportFolder::kPostfix, ExportKind::kPostfixMap, 0644, std::nullopt, std::move(render),
               CommitGroup::kAcceptance);
}

ExportTable make_table() {
  ExportTable t;
  t.push_back(postfix_map("vmailbox", [](RenderInput& in) { return render_vmailbox(in.rows); }));
  t.push_back(postfix_map("virtual", [](RenderInput& in) { return render_virtual(in.virtual_map, in.routes); }));
  t.push_back(postfix_map("sender_logins", [](RenderInput& in) { return render_sender_logins(in.rows); }));
  t.push_back(postfix_map("vdomains", [](RenderInput& in) { return render_vdomains(in.rows); }));
  t.push_back(postfix_map("recipient_access",
                          [](RenderInput& in) { return render_recipient_access(in.virtual_map, in.routes); }));
  t.push_back(postfix_map("hosted_senders", [](RenderInput& in) { return render_hosted_senders(in.rows); }));
  // The passwd-file holds hashes: never world-readable.
  ExportedFileSpec users = entry(
      "users", ExportFolder::kDovecot, ExportKind::kPasswdFile, 0640, "dovecot",
      [](RenderInput& in) { return render_dovecot_users(in.rows, in.settings); }, CommitGroup::kDelivery);
  users.mailbox_list = true;
  t.push_back(std::move(users));
  t.push_back(entry(
      "alias-quotas", ExportFolder::kDovecot, ExportKind::kPasswdFile, 0640, "dovecot",
      [](RenderInput& in) { return render_alias_quotas(in.virtual_map, in.routes, in.settings); },
      CommitGroup::kDelivery));
  for (const auto& [service, switch_name] : kDovecotDenyFiles) {
    t.push_back(entry(
        "deny-" + service, ExportFolder::kDovecot, ExportKind::kAccessFile, 0640, "dovecot",
        [sw = switch_name](RenderInput& in) { return render_deny_file(in.snapshot, in.rows, sw); },
        CommitGroup::kDelivery));
  }
  // OpenDKIM's tables hold no secret (the key files they name do); it reads
  // them again only on SIGUSR1, and refuses to start without them.
  ExportedFileSpec key_table = entry(
      "KeyTable", ExportFolder::kOpenDkim, ExportKind::kOpenDkimTable, 0644, std::nullopt,
      [](RenderInput& in) { return render_key_table(in.snapshot, in.settings, in.warn, in.dkim_usable); },
      CommitGroup::kDelivery);
  key_table.reload_daemon = "opendkim";
  key_table.exists_before_first_export = true;
  ExportedFileSpec signing_table = key_table;
  signing_table.name = "SigningTable";
  signing_table.render = [](RenderInput& in) { return render_signing_table(in.snapshot, in.warn, in.dkim_usable); };
  t.push_back(std::move(key_table));
  t.push_back(std::move(signing_table));
  return t;
}

}  // namespace

const ExportTable& exported_files() {
  static const ExportTable table = make_table();
  return table;
}

const std::string& export_folder(const ExportedFileSpec& spec, const Settings& settings) {
  switch (spec.folder) {
    case ExportFolder::kPostfix: return settings.postfix_dir;
    case ExportFolder::kDovecot: return settings.dovecot_dir;
    case ExportFolder::kOpenDkim: break;
  }
  return settings.opendkim_dir;
}

std::string export_path(const ExportedFileSpec& spec, const Settings& settings) {
  return export_folder(spec, settings) + "/" + spec.name;
}

const ExportedFileSpec* find_exported_file(const ExportTable& table, std::string_view name) {
  for (const ExportedFileSpec& spec : table) {
    if (spec.name == name) return &spec;
  }
  return nullptr;
}

std::string export_map_type(const ExportedFileSpec& spec, const Settings& settings) {
  return spec.kind == ExportKind::kPostfixMap ? settings.map_type : "";
}

FileOptions export_file_options(const ExportedFileSpec& spec) {
  FileOptions options{spec.mode, {}, {}};
  if (spec.group) {
    options.owner = 0;
    options.group = group_by_name(*spec.group);
  }
  return options;
}

std::vector<std::string> export_folders(const Settings& settings, const ExportTable& table) {
  std::vector<std::string> out;
  for (const ExportedFileSpec& spec : table) {
    const std::string& dir = export_folder(spec, settings);
    if (std::find(out.begin(), out.end(), dir) == out.end()) out.push_back(dir);
  }
  return out;
}

std::vector<std::string> watched_exports(const Settings& settings, std::string_view daemon, const ExportTable& table) {
  std::vector<std::string> out;
  for (const ExportedFileSpec& spec : table) {
    if (!daemon.empty() && spec.reload_daemon == daemon) out.push_back(export_path(spec, settings));
  }
  return out;
}

Status prepare_export_files(const Settings& settings, const ExportTable& table) {
  for (const std::string& dir : export_folders(settings, table)) {
    if (Status s = make_dirs(dir, 0755); !s.ok()) return s;
  }
  for (const ExportedFileSpec& spec : table) {
    if (!spec.exists_before_first_export) continue;
    auto dir = Dir::open(export_folder(spec, settings));
    if (!dir.ok()) return dir.status();
    if (dir->has(spec.name)) continue;
    if (Status s = dir->write_file(spec.name, "", export_file_options(spec)); !s.ok()) return s;
  }
  return Status::Ok();
}

ExportWatch::ExportWatch(std::vector<std::string> paths) : paths_(std::move(paths)), last_(stamp()) {}

std::optional<std::string> ExportWatch::changed() {
  std::string now = stamp();
  if (now == last_) return std::nullopt;
  last_ = std::move(now);
  std::string names;
  for (const std::string& path : paths_) {
    names += (names.empty() ? "" : " or ") + base_name(path);
  }
  return names + " changed";
}

std::string ExportWatch::stamp() const {
  std::string out;
  for (const auto& path : paths_) {
    struct stat st;
    if (::stat(path.c_str(), &st) != 0) {
      out += "-;";
      continue;
    }
    out += std::to_string(st.st_ino) + ":" + std::to_string(st.st_size) + ":" + std::to_string(st.st_mtim.tv_sec) +
           "." + std::to_string(st.st_mtim.tv_nsec) + ";";
  }
  return out;
}

}  // namespace vmail
