#include "core/password.h"

#include <crypt.h>

#include <cstring>
#include <memory>

namespace vmail {

namespace {

struct Params {
  const char* prefix;
  unsigned long count;  // 0 = libxcrypt's default cost
  const char* dovecot;  // Dovecot scheme label
};

Params params_for(Scheme scheme) {
  switch (scheme) {
    case Scheme::kSha512Crypt: return {"$6$", 5000, "{SHA512-CRYPT}"};
    // Cost 5 matches Dovecot's own `doveadm pw -s BLF-CRYPT` default.
    case Scheme::kBlfCrypt: return {"$2b$", 5, "{BLF-CRYPT}"};
    // Dovecot 2.3 has no {YESCRYPT} scheme but verifies $y$ through libc crypt.
    case Scheme::kYescrypt: return {"$y$", 0, "{CRYPT}"};
  }
  return {"$6$", 5000, "{SHA512-CRYPT}"};
}

}  // namespace

Result<std::string> hash_password(std::string_view password, Scheme scheme) {
  if (password.size() >= CRYPT_MAX_PASSPHRASE_SIZE || password.find('\0') != std::string_view::npos) {
    return Status(Code::kBadInput, "password: refused by crypt (too long or contains NUL)");
  }
  Params p = params_for(scheme);
  char setting[CRYPT_GENSALT_OUTPUT_SIZE];
  // A null random buffer makes libxcrypt draw the salt from the OS (getrandom).
  if (crypt_gensalt_rn(p.prefix, p.count, nullptr, 0, setting, sizeof setting) == nullptr) {
    return Status(Code::kInternal, std::string("crypt_gensalt: ") + std::strerror(errno));
  }
  auto data = std::make_unique<crypt_data>();
  std::string phrase(password);
  const char* out = crypt_rn(phrase.c_str(), setting, data.get(), sizeof(crypt_data));
  explicit_bzero(phrase.data(), phrase.size());
  if (out == nullptr || out[0] == '*') {
    explicit_bzero(data.get(), sizeof(crypt_data));
    return Status(Code::kInternal, std::string("crypt: hashing failed: ") + std::strerror(errno));
  }
  std::string result = std::string(p.dovecot) + out;
  explicit_bzero(data.get(), sizeof(crypt_data));
  return result;
}

bool verify_password(std::string_view password, std::string_view dovecot_hash) {
  size_t close = dovecot_hash.find('}');
  if (dovecot_hash.empty() || dovecot_hash.front() != '{' || close == std::string_view::npos) return false;
  std::string setting(dovecot_hash.substr(close + 1));
  std::string phrase(password);
  auto data = std::make_unique<crypt_data>();
  const char* out = crypt_rn(phrase.c_str(), setting.c_str(), data.get(), sizeof(crypt_data));
  bool match = out != nullptr && out[0] != '*' && setting == out;
  explicit_bzero(phrase.data(), phrase.size());
  explicit_bzero(data.get(), sizeof(crypt_data));
  return match;
}

}  // namespace vmail
