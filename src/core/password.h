// Password hashing through libxcrypt.
//
// Thread-safe: every call uses its own crypt_data. A failure (unknown scheme,
// a phrase crypt(3) refuses, no entropy) yields a Status; a plaintext password
// never appears in a message.
#pragma once

#include <string>
#include <string_view>

#include "core/scheme.h"
#include "core/status.h"

namespace vmail {

// Hashes `password` with a fresh random salt and returns the Dovecot form:
// `{SHA512-CRYPT}$6$...`, `{BLF-CRYPT}$2b$...` or `{CRYPT}$y$...` (yescrypt).
Result<std::string> hash_password(std::string_view password, Scheme scheme);

// Verifies `password` against a `{SCHEME}crypt-string` produced by any crypt(3)
// scheme libxcrypt knows. False for other schemes.
bool verify_password(std::string_view password, std::string_view dovecot_hash);

}  // namespace vmail
