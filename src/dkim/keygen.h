// DKIM key generation (OpenSSL): RSA 2048 or Ed25519 key pairs, the private
// key as PEM PKCS#8 for its file, the public key as the DNS record's p=.
// Thread-safe; nothing is written anywhere.
#pragma once

#include <ctime>
#include <string>

#include "core/dkim.h"
#include "core/settings.h"
#include "core/status.h"

namespace vmail {

constexpr int kDkimRsaBits = 2048;

// A new key pair; kInternal when OpenSSL fails. `selector` is left empty.
Result<DkimKeyMaterial> generate_dkim_key(DkimAlgorithm algorithm);

// The p= value of a private key in PEM: base64 of the DER
// SubjectPublicKeyInfo (rsa, what `openssl pkey -pubout` prints between its
// PEM lines) or of the raw 32-byte key (ed25519, RFC 8463). kBadInput when
// `pem` is no private key.
Result<std::string> dkim_public_key(const std::string& pem);

// What a new domain gets (SPEC "Mail policy", issue 13): one RSA key, named
// by the date rule at `now`, filed under `files`.
Result<NewDkimKeys> new_domain_keys(const Settings& settings, const EnvReader& env, std::time_t now);

}  // namespace vmail
