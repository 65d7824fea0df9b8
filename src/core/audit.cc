#include "core/audit.h"

#include <unistd.h>

#include <charconv>
#include <cstdlib>
#include <nlohmann/json.hpp>

namespace vmail {
namespace {

// SUDO_USER is whatever the environment says; keep it one short printable line.
std::string clean_claim(const char* value) {
  std::string out = value == nullptr ? "" : value;
  if (out.size() > 64) out.resize(64);
  for (char& c : out) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = '?';
  }
  return out;
}

void bind_json(SQLite::Statement& q, int index, const nlohmann::json& value) {
  if (value.is_null()) {
    q.bind(index);
  } else {
    q.bind(index, value.dump());
  }
}

// Reads exactly `digits` decimal digits at `pos`; false otherwise.
bool read_number(std::string_view text, size_t& pos, size_t digits, int& out) {
  if (pos + digits > text.size()) return false;
  for (size_t i = pos; i < pos + digits; ++i) {
    if (text[i] < '0' || text[i] > '9') return false;
  }
  std::from_chars(text.data() + pos, text.data() + pos + digits, out);
  pos += digits;
  return true;
}

bool expect(std::string_view text, size_t& pos, char c) {
  if (pos >= text.size() || text[pos] != c) return false;
  ++pos;
  return true;
}

// `YYYY-MM-DD[(T| )HH:MM[:SS]][Z]`, UTC. A date that timegm would move (Feb
// 30, hour 24) is refused by comparing the round trip.
std::optional<std::string> parse_absolute(std::string_view text) {
  std::tm tm{};
  size_t pos = 0;
  if (!read_number(text, pos, 4, tm.tm_year) || !expect(text, pos, '-') || !read_number(text, pos, 2, tm.tm_mon) ||
      !expect(text, pos, '-') || !read_number(text, pos, 2, tm.tm_mday)) {
    return std::nullopt;
  }
  if (pos < text.size() && (text[pos] == 'T' || text[pos] == ' ')) {
    ++pos;
    if (!read_number(text, pos, 2, tm.tm_hour) || !expect(text, pos, ':') || !read_number(text, pos, 2, tm.tm_min)) {
      return std::nullopt;
    }
    if (pos < text.size() && text[pos] == ':') {
      ++pos;
      if (!read_number(text, pos, 2, tm.tm_sec)) return std::nullopt;
    }
  }
  if (pos < text.size() && text[pos] == 'Z') ++pos;
  if (pos != text.size()) return std::nullopt;
  const std::tm asked = tm;
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  std::time_t t = timegm(&tm);
  std::tm back{};
  gmtime_r(&t, &back);
  if (back.tm_year + 1900 != asked.tm_year || back.tm_mon + 1 != asked.tm_mon || back.tm_mday != asked.tm_mday ||
      back.tm_hour != asked.tm_hour || back.tm_min != asked.tm_min || back.tm_sec != asked.tm_sec) {
    return std::nullopt;
  }
  return format_utc(t);
}

// `N(s|m|h|d|w)` before `now`; N from 1 to 10 years' worth.
std::optional<std::string> parse_relative(std::string_view text, std::time_t now) {
  if (text.size() < 2) return std::nullopt;
  int64_t unit = 0;
  switch (text.back()) {
    case 's': unit = 1; break;
    case 'm': unit = 60; break;
    case 'h': unit = 3600; break;
    case 'd': unit = 86400; break;
    case 'w': unit = 7 * 86400; break;
    default: return std::nullopt;
  }
  std::string_view digits = text.substr(0, text.size() - 1);
  int64_t n = 0;
  auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), n);
  if (ec != std::errc() || end != digits.data() + digits.size() || n < 1) return std::nullopt;
  constexpr int64_t kTenYears = int64_t{3650} * 86400;
  if (n > kTenYears / unit) return std::nullopt;
  return format_utc(now - static_cast<std::time_t>(n * unit));
}

}  // namespace

std::string format_utc(std::time_t t) {
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

Actor Actor::current(std::string command) {
  Actor a;
  a.uid = static_cast<int64_t>(getuid());
  a.sudo_user = clean_claim(std::getenv("SUDO_USER"));
  a.command = std::move(command);
  return a;
}

void record_change(SQLite::Database& tx, const Actor& actor, const Change& change) {
  SQLite::Statement q(tx,
                      "INSERT INTO audit_log (uid, sudo_user, command, action, object, old_value, new_value) "
                      "VALUES (?, ?, ?, ?, ?, ?, ?)");
  q.bind(1, actor.uid);
  if (actor.sudo_user.empty()) {
    q.bind(2);
  } else {
    q.bind(2, actor.sudo_user);
  }
  // A caller without a command (a library user, a test) is named by its action.
  q.bind(3, actor.command.empty() ? std::string(change.action) : actor.command);
  q.bind(4, std::string(change.action));
  q.bind(5, std::string(change.object));
  bind_json(q, 6, change.old_value);
  bind_json(q, 7, change.new_value);
  q.exec();
}

Result<std::vector<AuditEntry>> read_audit_log(Database& db, const std::optional<std::string>& since, size_t limit) {
  std::vector<AuditEntry> out;
  Status s = db.read([&]() -> Status {
    SQLite::Statement q(db.sql(),
                        "SELECT id, time, uid, coalesce(sudo_user, ''), command, action, object, "
                        "coalesce(old_value, ''), coalesce(new_value, '') FROM audit_log "
                        "WHERE time >= ? ORDER BY id DESC LIMIT ?");
    q.bind(1, since.value_or(""));
    q.bind(2, static_cast<int64_t>(limit));
    while (q.executeStep()) {
      AuditEntry& e = out.emplace_back();
      e.id = q.getColumn(0).getInt64();
      e.time = q.getColumn(1).getString();
      e.uid = q.getColumn(2).getInt64();
      e.sudo_user = q.getColumn(3).getString();
      e.command = q.getColumn(4).getString();
      e.action = q.getColumn(5).getString();
      e.object = q.getColumn(6).getString();
      e.old_value = q.getColumn(7).getString();
      e.new_value = q.getColumn(8).getString();
    }
    return Status::Ok();
  });
  if (!s.ok()) return s;
  return out;
}

Result<std::string> parse_since(std::string_view text, std::time_t now, std::string_view field) {
  if (auto t = parse_relative(text, now)) return *t;
  if (auto t = parse_absolute(text)) return *t;
  return Status(Code::kBadInput, std::string(field) + " " + quote(text) +
                                     ": not a time (YYYY-MM-DD[THH:MM[:SS]][Z] in UTC, or N followed by s, m, h, d "
                                     "or w, e.g. 2d)");
}

}  // namespace vmail
