#include "core/vacation.h"

#include <ctime>

#include "core/validate.h"

namespace vmail {
namespace {

constexpr std::string_view kHeader = "# Written by `vmail user vacation`; changed or removed only by it.\n";

Status bad(std::string_view field, const std::string& value, const std::string& why) {
  return Status(Code::kBadInput, std::string(field) + " " + quote(value) + ": " + why);
}

// A Sieve quoted string (RFC 5228 2.4.2): backslash and quote escaped.
std::string sieve_string(std::string_view text) {
  std::string out = "\"";
  for (char c : text) {
    if (c == '\\' || c == '"') out += '\\';
    out += c;
  }
  return out + "\"";
}

Status check_date(const std::string& date) {
  std::tm tm{};
  const char* end = strptime(date.c_str(), "%Y-%m-%d", &tm);
  bool shape = date.size() == 10 && date[4] == '-' && date[7] == '-';
  if (!shape || end == nullptr || *end != '\0') return bad("--until", date, "not a date (YYYY-MM-DD)");
  std::tm copy = tm;
  copy.tm_isdst = -1;
  timegm(&copy);  // normalises 02-30 to 03-02: then it was no real day
  if (copy.tm_mday != tm.tm_mday || copy.tm_mon != tm.tm_mon) return bad("--until", date, "no such day");
  return Status::Ok();
}

// Reads the fixed text `literal` or a quoted string at `at`; false when the
// text differs there.
struct Reader {
  std::string_view text;
  size_t at = 0;

  bool literal(std::string_view expected) {
    if (text.substr(at, expected.size()) != expected) return false;
    at += expected.size();
    return true;
  }
  std::optional<std::string> quoted() {
    if (!literal("\"")) return std::nullopt;
    std::string out;
    while (at < text.size()) {
      char c = text[at++];
      if (c == '"') return out;
      if (c == '\\') {
        if (at == text.size()) return std::nullopt;
        c = text[at++];
      }
      out += c;
    }
    return std::nullopt;
  }
};

}  // namespace

Status check_vacation(const VacationSettings& s, std::string_view message_name) {
  if (s.subject.empty()) return bad("--subject", s.subject, "empty");
  if (s.subject.size() > kMaxVacationSubject) {
    return bad("--subject", s.subject.substr(0, 20) + "...", "longer than 200 bytes");
  }
  for (unsigned char c : s.subject) {
    if (c < 0x20 || c == 0x7f) return bad("--subject", s.subject, "control characters are not allowed");
  }
  std::string name(message_name.empty() ? "(message)" : message_name);
  if (s.message.empty()) return bad("--message-file", name, "empty");
  if (s.message.size() > kMaxVacationMessage) return bad("--message-file", name, "larger than 64 KiB");
  for (unsigned char c : s.message) {
    if ((c < 0x20 && c != '\n' && c != '\r' && c != '\t') || c == 0x7f) {
      return bad("--message-file", name, "control characters are not allowed");
    }
  }
  if (!s.until.empty()) return check_date(s.until);
  return Status::Ok();
}

std::string vacation_script(const VacationSettings& s) {
  std::string action = "vacation :days 7 :subject " + sieve_string(s.subject) + " " + sieve_string(s.message) + ";\n";
  std::string out(kHeader);
  if (s.until.empty()) return out + "require \"vacation\";\n" + action;
  return out + "require [\"vacation\", \"date\", \"relational\"];\nif currentdate :value \"le\" \"date\" " +
         sieve_string(s.until) + " {\n  " + action + "}\n";
}

std::optional<VacationSettings> parse_vacation_script(std::string_view script) {
  if (script.size() > kMaxVacationScript) return std::nullopt;
  Reader r{script};
  if (!r.literal(kHeader)) return std::nullopt;
  VacationSettings s;
  if (r.literal("require [\"vacation\", \"date\", \"relational\"];\nif currentdate :value \"le\" \"date\" ")) {
    auto until = r.quoted();
    if (!until || until->empty() || !r.literal(" {\n  ")) return std::nullopt;
    s.until = *until;
  } else if (!r.literal("require \"vacation\";\n")) {
    return std::nullopt;
  }
  if (!r.literal("vacation :days 7 :subject ")) return std::nullopt;
  auto subject = r.quoted();
  if (!subject || !r.literal(" ")) return std::nullopt;
  auto message = r.quoted();
  if (!message) return std::nullopt;
  s.subject = std::move(*subject);
  s.message = std::move(*message);
  // Exactly what vacation_script writes for settings it accepts: anything
  // else (a second action, a comment, a changed :days) is not vmail's.
  if (!check_vacation(s).ok() || vacation_script(s) != script) return std::nullopt;
  return s;
}

}  // namespace vmail
