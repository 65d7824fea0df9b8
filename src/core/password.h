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

// Why `value` (the part after `{SCHEME}`) is not a hash Dovecot can verify
// under `scheme` (upper case, without braces), or "" when it is. Unknown
// schemes, legacy or disabled crypt(3) methods (crypt_checksalt) and values
// whose salt, checksum, rounds or cost are out of shape are refused:
//   SHA512-CRYPT  $6$[rounds=1000..999999999$]SALT(1-16)$CHECKSUM(86)
//   BLF-CRYPT     $2a$|$2b$|$2y$ COST(04-31) $ SALT+CHECKSUM(53)
//   CRYPT         $y$ (yescrypt: params libxcrypt generates, j[7-9A-F][5T],
//                 SALT(1-86)$CHECKSUM(43)), or the $6$ / $2?$ forms above
//   ARGON2I/ID    $argon2i[d]$v=19$m=8..4194304,t=1..4294967295 (ARGON2I: 3..),p=1$
//                 SALT(>=8 bytes)$HASH(>=16 bytes), canonical unpadded base64
//   PBKDF2        $1$SALT(1-64)$ROUNDS(1000..4294967295)$HEX(40)
//   SSHA512/SSHA256/SSHA  base64 of digest + salt (>= 1 byte)
//   SHA512/SHA256 base64 of the digest
//   SCRAM-SHA-256 ITER(4096..2147483647),SALT,STOREDKEY(32 bytes),SERVERKEY(32 bytes)
// The reason never quotes `value`, and names `scheme` only when it is a
// known one. Salts and checksums of crypt(3) forms use ./0-9A-Za-z. Pure and
// thread-safe; it never hashes, so it costs well under a microsecond a value.
//
// kStored (a row read back from the database, e.g. by the exporter) accepts
// what libxcrypt calls legacy ($5$, $1$, DES): such hashes were accepted
// before, Dovecot still verifies them, and refusing them at export would drop
// working users from the server. New hashes (kNew: --hash, import) are refused.
enum class HashUse { kNew, kStored };
std::string hash_problem(std::string_view scheme, std::string_view value, HashUse use = HashUse::kNew);

}  // namespace vmail
