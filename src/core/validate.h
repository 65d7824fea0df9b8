// Validation of every value a user can hand to vmail (SPEC "Addresses and
// passwords"). The CLI, batch import and the launcher all go through these
// functions: there is no second copy of the rules.
//
// Every function is pure and thread-safe. A rejected value yields a Status with
// Code::kBadInput and a one-line message `FIELD "VALUE": reason`.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/password.h"
#include "core/status.h"

namespace vmail {

struct Address {
  std::string local;   // empty for a catch-all source (`@domain`)
  std::string domain;  // lowercase A-label form
  std::string str() const { return local + "@" + domain; }
};

// Checks a local part that is already lowercase: a-z 0-9 . _ -, 1-64
// characters, no leading, trailing or doubled dot.
Status check_local_part(std::string_view local, std::string_view field = "address");

// Lowercases a domain, converts an internationalised name to its A-label
// (punycode) form and checks LDH labels of 1-63 characters, at least two
// labels, at most 253 characters. A single trailing dot is refused.
// Transitional handling: a name given in Unicode is mapped with UTS #46
// non-transitional processing (NFC, case folding; ß, ς, ZWJ and ZWNJ are kept,
// so "faß.de" becomes xn--fa-hia.de, never fass.de). A label given as an
// A-label ("xn--") is not mapped: it must decode (libidn2) and encode back
// under plain IDNA2008 to the very same label, or it is refused; so xn--a,
// xn-- and xn--zz are refused, xn--bcher-kva and xn--zca are kept as given.
Result<std::string> normalize_domain(std::string_view domain, std::string_view field = "domain");

// Parses `local@domain` into its lowercase, normalised parts.
Result<Address> parse_address(std::string_view text, std::string_view field = "address");

// Parses an alias source: an address, or `@domain` for a catch-all.
Result<Address> parse_alias_source(std::string_view text, std::string_view field = "source");

// Display name: up to 128 characters of valid UTF-8, no control characters, no ':'.
Status check_display_name(std::string_view name, std::string_view field = "name");

// Password: 8-511 bytes, no control characters.
Status check_password(std::string_view password, std::string_view field = "password");

// A ready hash `{SCHEME}...` (scheme case-insensitive): no ':', whitespace or
// control characters, and a value Dovecot can verify under that scheme with
// the shape hash_problem() (core/password.h) describes; libxcrypt's legacy,
// disabled or too-cheap methods are refused with the reason. Cheap enough
// for the exporter to call on every stored row.
// `use` as for hash_problem: kStored accepts legacy methods already stored.
// A refusal is kBadInput "FIELD: reason": it never quotes the hash or a
// part of it (a hash is a password to an offline guesser).
Status check_hash(std::string_view hash, std::string_view field = "hash", HashUse use = HashUse::kNew);

// Quota: `none` (no quota: nullopt) or N[K|M|G|T] with 1024-based units.
// Refuses 0 (SPEC: no limit is `none`) and values that overflow 64-bit bytes.
Result<std::optional<uint64_t>> parse_quota(std::string_view text, std::string_view field = "quota");

// A yes/no value: true/false, yes/no, 1/0 in any case; empty means `empty_value`.
Result<bool> parse_boolean(std::string_view text, bool empty_value, std::string_view field = "enabled");

// The destinations of an alias: `DEST[,DEST...]`, each an address, lowercased;
// whitespace (line breaks too) around a comma is allowed. Refuses an empty
// item, a destination given twice and one equal to `source` (the alias's own
// `local@domain` or `@domain`).
Result<std::vector<std::string>> parse_destinations(std::string_view list, std::string_view source,
                                                    std::string_view field = "destination");

// Several DEST[,DEST...] arguments (as `alias add` and `user forward` take
// them) parsed with parse_destinations into one list; a destination given
// twice across them is refused too.
Result<std::vector<std::string>> parse_destination_args(const std::vector<std::string>& args, std::string_view source,
                                                        std::string_view field = "destination");

// Formats bytes the way parse_quota reads them back (exact units only).
std::string format_quota(uint64_t bytes);

// True when `text` is valid UTF-8 (no overlongs, no surrogates).
bool is_valid_utf8(std::string_view text);

}  // namespace vmail
