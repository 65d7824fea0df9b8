// The vacation auto-reply of a mailbox (`vmail user vacation`): a Sieve
// script in the mailbox's home that Pigeonhole runs before the user's own
// (templates/dovecot/dovecot.conf.mustache, `sieve_before`).
//
// The script is the one record of the settings: `user show` reads them back
// by parsing it. The home belongs to the vmail uid, so what is read back is
// untrusted: parse_vacation_script accepts exactly the text
// vacation_script writes for settings that pass check_vacation, nothing else.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "core/status.h"

namespace vmail {

// The script's file name in the home, and the binary Dovecot compiles beside it.
inline constexpr const char* kVacationScript = ".vmail-vacation.sieve";
inline constexpr const char* kVacationBinary = ".vmail-vacation.svbin";
inline constexpr size_t kMaxVacationMessage = 64 * 1024;
inline constexpr size_t kMaxVacationSubject = 200;
// No script vacation_script writes is larger (every byte of subject and
// message escaped, plus the fixed text).
inline constexpr size_t kMaxVacationScript = 2 * (kMaxVacationMessage + kMaxVacationSubject) + 1024;

struct VacationSettings {
  std::string subject;
  std::string message;
  std::string until;  // last day it answers, YYYY-MM-DD; empty: no end

  bool operator==(const VacationSettings&) const = default;
};

// kBadInput naming the flag (--subject, --message-file, --until) and the
// reason: an empty or over-long subject, control characters (the message may
// hold newlines and tabs), a message over 64 KiB, a date that is not a real
// YYYY-MM-DD day.
Status check_vacation(const VacationSettings& settings, std::string_view message_name = "");

// The script: one vacation action answering each sender at most once a week
// (:days 7), inside a date test when `until` is set. Pigeonhole's vacation
// never answers mailing lists, bounces or other automatic replies.
std::string vacation_script(const VacationSettings& settings);

// The settings of a script vacation_script wrote; nullopt for any other text
// (changed by hand, by the vmail uid, or cut short).
std::optional<VacationSettings> parse_vacation_script(std::string_view script);

}  // namespace vmail
