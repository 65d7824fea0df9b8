#include "core/settings.h"

#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>

#include "core/settings_table.h"

namespace vmail {

EnvReader process_env() {
  return [](const std::string& name) -> std::optional<std::string> {
    const char* v = std::getenv(name.c_str());
    if (v == nullptr || *v == '\0') return std::nullopt;
    return std::string(v);
  };
}

EnvReader map_env(std::map<std::string, std::string> values) {
  return [values = std::move(values)](const std::string& name) -> std::optional<std::string> {
    auto it = values.find(name);
    if (it == values.end() || it->second.empty()) return std::nullopt;
    return it->second;
  };
}

bool Settings::is_explicit(const std::string& name) const {
  return std::find(explicit_names.begin(), explicit_names.end(), name) != explicit_names.end();
}

std::string absolute_path(const std::string& path) {
  std::string out = path;
  if (out.empty() || out[0] != '/') {
    char cwd[4096];
    if (getcwd(cwd, sizeof cwd) != nullptr) out = std::string(cwd) + "/" + out;
  }
  while (out.size() > 1 && out.back() == '/') out.pop_back();
  // Collapse "/./" and a leading "./" left by relative inputs.
  for (size_t pos; (pos = out.find("/./")) != std::string::npos;) out.erase(pos, 2);
  if (out.size() > 2 && out.compare(out.size() - 2, 2, "/.") == 0) out.resize(out.size() - 2);
  return out;
}

Result<uint32_t> parse_id(const std::string& name, const std::string& value) {
  if (value.empty() || value.size() > 10 || value.find_first_not_of("0123456789") != std::string::npos) {
    return Status(Code::kConfig, name + " " + quote(value) + ": not a number");
  }
  unsigned long long n = std::strtoull(value.c_str(), nullptr, 10);
  if (n == 0) return Status(Code::kConfig, name + " " + quote(value) + ": must not be 0 (root)");
  if (n >= 4294967295ULL) return Status(Code::kConfig, name + " " + quote(value) + ": out of range");
  return static_cast<uint32_t>(n);
}

bool looks_like_url(const std::string& value) {
  size_t colon = value.find(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 >= value.size() || value[colon + 1] != '/') return false;
  if (!std::isalpha(static_cast<unsigned char>(value[0]))) return false;
  for (size_t i = 1; i < colon; ++i) {
    unsigned char c = static_cast<unsigned char>(value[i]);
    if (!std::isalnum(c) && c != '+' && c != '-' && c != '.') return false;
  }
  return true;
}

bool is_postgres_url(const std::string& value) {
  return value.rfind("postgresql://", 0) == 0 || value.rfind("postgres://", 0) == 0;
}

Result<Settings> load_settings(const std::map<std::string, std::string>& flags, const EnvReader& env) {
  // Every setting of the table that `vmail` takes: flag, then environment,
  // checked by the table's check (kConfig naming it).
  std::map<std::string, std::string> given;
  Settings s;
  for (const SettingInfo& info : settings_table()) {
    if ((info.scope & kScopeVmail) == 0) continue;
    std::optional<std::string> value;
    if (auto it = flags.find(info.name); it != flags.end() && !it->second.empty()) {
      value = it->second;
    } else {
      value = env(info.name);
    }
    if (!value) continue;
    if (Status st = check_setting(info, *value); !st.ok()) return st;
    s.explicit_names.emplace_back(info.name);
    given[info.name] = info.path && !is_postgres_url(*value) ? absolute_path(*value) : *value;
  }
  auto get = [&](const std::string& name) -> std::optional<std::string> {
    if (auto it = given.find(name); it != given.end()) return it->second;
    return std::nullopt;
  };
  auto path = [&](const std::string& name, const std::string& fallback) { return get(name).value_or(fallback); };

  std::string root = get("VMAIL_ROOT").value_or("/");
  s.root = root == "/" ? "" : root;
  s.state_dir = path("VMAIL_STATE_DIR", s.rooted("/data/state"));
  auto db = get("VMAIL_DB");
  if (db && is_postgres_url(*db)) {
    s.upstream = *db;
    s.db = s.state_dir + "/replica.db";
  } else {
    s.db = db.value_or(s.state_dir + "/vmail.db");
  }
  s.db_password_file = get("VMAIL_DB_PASSWORD_FILE").value_or("");
  s.mail_dir = path("VMAIL_MAIL_DIR", s.rooted("/var/mail/vhosts"));
  s.postfix_dir = path("VMAIL_POSTFIX_DIR", s.rooted("/etc/postfix"));
  s.dovecot_dir = path("VMAIL_DOVECOT_DIR", s.rooted("/etc/dovecot"));
  s.opendkim_dir = path("VMAIL_OPENDKIM_DIR", s.rooted("/etc/opendkim"));
  if (auto v = get("VMAIL_UID")) s.uid = *parse_id("VMAIL_UID", *v);
  if (auto v = get("VMAIL_GID")) s.gid = *parse_id("VMAIL_GID", *v);
  if (auto v = get("VMAIL_PASSWORD_SCHEME")) s.scheme = *parse_scheme(*v);
  if (auto v = get("VMAIL_MAP_TYPE")) s.map_type = *v;
  if (auto v = get("VMAIL_BAN_TIME")) s.ban_time = std::stoll(*v);      // checked: 1-31536000
  if (auto v = get("VMAIL_SEND_LIMIT")) s.send_limit = std::stoll(*v);  // checked: 1-100000000
  return s;
}

Status apply_recorded(Settings& s, const std::map<std::string, std::string>& recorded) {
  for (const auto& [name, value] : recorded) {
    if (s.is_explicit(name)) continue;
    // Recorded values come from the database: treat them as untrusted.
    if (name == "VMAIL_MAIL_DIR" || name == "VMAIL_POSTFIX_DIR" || name == "VMAIL_DOVECOT_DIR" ||
        name == "VMAIL_OPENDKIM_DIR") {
      if (value.empty() || value[0] != '/' || value.find("/../") != std::string::npos ||
          value.find('\n') != std::string::npos) {
        return Status(Code::kConfig, "recorded " + name + " " + quote(value) + ": not an absolute path");
      }
      if (name == "VMAIL_MAIL_DIR") s.mail_dir = value;
      if (name == "VMAIL_POSTFIX_DIR") s.postfix_dir = value;
      if (name == "VMAIL_DOVECOT_DIR") s.dovecot_dir = value;
      if (name == "VMAIL_OPENDKIM_DIR") s.opendkim_dir = value;
    } else if (name == "VMAIL_MAP_TYPE") {
      if (Status st = check_setting(*find_setting(name), value); !st.ok()) return st;
      s.map_type = value;
    } else if (name == "VMAIL_UID" || name == "VMAIL_GID") {
      auto id = parse_id(name, value);
      if (!id.ok()) return id.status();
      (name == "VMAIL_UID" ? s.uid : s.gid) = *id;
    }
  }
  return Status::Ok();
}

std::map<std::string, std::string> recordable(const Settings& s) {
  return {
      {"VMAIL_MAIL_DIR", s.mail_dir},       {"VMAIL_POSTFIX_DIR", s.postfix_dir},
      {"VMAIL_DOVECOT_DIR", s.dovecot_dir}, {"VMAIL_OPENDKIM_DIR", s.opendkim_dir},
      {"VMAIL_MAP_TYPE", s.map_type},       {"VMAIL_UID", std::to_string(s.uid)},
      {"VMAIL_GID", std::to_string(s.gid)},
  };
}

}  // namespace vmail
