// The password schemes vmail hashes with, by name. Kept apart from password.h
// so that settings (and the NSS module that reads them) never need libxcrypt.
#pragma once

#include <string_view>

#include "core/status.h"

namespace vmail {

enum class Scheme { kSha512Crypt, kBlfCrypt, kYescrypt };

// Parses a VMAIL_PASSWORD_SCHEME value (case-insensitive); kConfig on failure.
Result<Scheme> parse_scheme(std::string_view name);
std::string_view scheme_name(Scheme scheme);

}  // namespace vmail
