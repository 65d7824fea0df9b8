#include "core/password.h"

#include <crypt.h>

#include <cstdint>
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

namespace vmail {
namespace {

// The crypt(3) alphabet of salts and checksums.
bool is_crypt64(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '/';
}

bool all_crypt64(std::string_view s) {
  for (char c : s) {
    if (!is_crypt64(c)) return false;
  }
  return true;
}

bool is_hex(std::string_view s) {
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'))) return false;
  }
  return true;
}

int b64_value(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

// Bytes that canonical base64 `s` decodes to, or -1: padded means '=' up to a
// multiple of 4 (Dovecot's SSHA/SHA/SCRAM), unpadded means none (PHC strings,
// which libsodium decodes). Unused trailing bits must be zero.
long b64_size(std::string_view s, bool padded) {
  size_t pad = 0;
  if (padded) {
    if (s.size() % 4 != 0) return -1;
    while (pad < 2 && pad < s.size() && s[s.size() - 1 - pad] == '=') ++pad;
  }
  std::string_view body = s.substr(0, s.size() - pad);
  if (body.size() % 4 == 1) return -1;
  for (char c : body) {
    if (b64_value(c) < 0) return -1;
  }
  int spare_bits = static_cast<int>(body.size() % 4) == 2 ? 4 : static_cast<int>(body.size() % 4) == 3 ? 2 : 0;
  if (spare_bits != 0 && (b64_value(body.back()) & ((1 << spare_bits) - 1)) != 0) return -1;
  return static_cast<long>(body.size() * 3 / 4);
}

// A decimal without sign or leading zero, within [min, max].
bool parse_count(std::string_view s, uint64_t min, uint64_t max, uint64_t* out) {
  if (s.empty() || s.size() > 19 || (s.size() > 1 && s.front() == '0')) return false;
  uint64_t n = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    n = n * 10 + static_cast<uint64_t>(c - '0');
  }
  *out = n;
  return n >= min && n <= max;
}

// Splits `s` at `sep` into exactly `n` parts, or returns false.
bool split_exact(std::string_view s, char sep, size_t n, std::string_view* parts) {
  for (size_t i = 0; i < n; ++i) {
    size_t at = i + 1 == n ? std::string_view::npos : s.find(sep);
    if (i + 1 < n && at == std::string_view::npos) return false;
    parts[i] = s.substr(0, at);
    if (i + 1 < n) s.remove_prefix(at + 1);
  }
  return parts[n - 1].find(sep) == std::string_view::npos;
}

// libxcrypt's own verdict on the method: legacy, disabled or too cheap
// methods are refused even where Dovecot could still verify them.
std::string checksalt_problem(std::string_view value) {
  if (value.size() >= CRYPT_OUTPUT_SIZE) return "longer than any crypt(3) string";
  char setting[CRYPT_OUTPUT_SIZE];
  value.copy(setting, value.size());
  setting[value.size()] = '\0';
  switch (crypt_checksalt(setting)) {
    case CRYPT_SALT_OK: return "";
    case CRYPT_SALT_METHOD_LEGACY: return "legacy hash method refused (libxcrypt marks it weak; use $y$, $6$ or $2b$)";
    case CRYPT_SALT_METHOD_DISABLED: return "hash method disabled in libxcrypt";
#ifdef CRYPT_SALT_TOO_CHEAP
    case CRYPT_SALT_TOO_CHEAP: return "hash parameters too cheap (libxcrypt refuses them)";
#endif
    default: return "not a crypt(3) string libxcrypt accepts";
  }
}

// The SHA-crypt and MD5-crypt shape after the "$N$" prefix:
// [rounds=N$]SALT$CHECKSUM (rounds only where `rounds` says so).
struct CryptShape {
  std::string_view scheme;
  size_t salt_max;
  size_t checksum;
  bool rounds;
};

std::string crypt_shape_problem(std::string_view v, const CryptShape& shape) {
  std::string scheme(shape.scheme);
  if (shape.rounds && v.substr(0, 7) == "rounds=") {
    size_t end = v.find('$');
    uint64_t rounds = 0;
    if (end == std::string_view::npos || !parse_count(v.substr(7, end - 7), 1000, 999999999, &rounds)) {
      return scheme + " rounds must be 1000-999999999 without leading zeros";
    }
    v.remove_prefix(end + 1);
  }
  size_t end = v.find('$');
  if (end == std::string_view::npos) return scheme + " has no checksum after the salt";
  std::string_view salt = v.substr(0, end), sum = v.substr(end + 1);
  if (salt.empty() || salt.size() > shape.salt_max || !all_crypt64(salt)) {
    return scheme + " salt must be 1-" + std::to_string(shape.salt_max) + " of ./0-9A-Za-z";
  }
  if (sum.size() != shape.checksum || !all_crypt64(sum)) {
    return scheme + " checksum must be " + std::to_string(shape.checksum) + " of ./0-9A-Za-z";
  }
  return "";
}

std::string sha512_crypt_problem(std::string_view v) {
  return crypt_shape_problem(v.substr(3),
                             CryptShape{.scheme = "SHA512-CRYPT", .salt_max = 16, .checksum = 86, .rounds = true});
}

// Methods libxcrypt calls legacy, accepted only when read back (HashUse::kStored):
// $5$[rounds=N$]SALT(1-16)$CHECKSUM(43), $1$SALT(1-8)$CHECKSUM(22), DES (13).
std::string legacy_problem(std::string_view v) {
  if (v.size() == 13 && all_crypt64(v)) return "";
  if (v.substr(0, 3) == "$5$") {
    return crypt_shape_problem(v.substr(3),
                               CryptShape{.scheme = "SHA256-CRYPT", .salt_max = 16, .checksum = 43, .rounds = true});
  }
  if (v.substr(0, 3) == "$1$") {
    return crypt_shape_problem(v.substr(3),
                               CryptShape{.scheme = "MD5-CRYPT", .salt_max = 8, .checksum = 22, .rounds = false});
  }
  return "not a SHA256-CRYPT, MD5-CRYPT or DES crypt string";
}

std::string bcrypt_problem(std::string_view v) {
  // $2a$ / $2b$ / $2y$ (checksalt already refused $2x$ and a bare $2$).
  if (v.size() < 4 || (v[2] != 'a' && v[2] != 'b' && v[2] != 'y') || v[3] != '$') {
    return "BLF-CRYPT must start with $2a$, $2b$ or $2y$";
  }
  auto digit = [&](size_t i) { return v[i] >= '0' && v[i] <= '9'; };
  if (v.size() < 7 || v[6] != '$' || !digit(4) || !digit(5) || (v[4] - '0') * 10 + (v[5] - '0') < 4 ||
      (v[4] - '0') * 10 + (v[5] - '0') > 31) {
    return "BLF-CRYPT cost must be two digits 04-31";
  }
  std::string_view rest = v.substr(7);
  if (rest.size() != 53 || !all_crypt64(rest)) return "BLF-CRYPT salt and checksum must be 53 of ./0-9A-Za-z";
  return "";
}

std::string yescrypt_problem(std::string_view v) {
  std::string_view parts[4];  // "", params, salt, checksum after "$y"
  v.remove_prefix(2);
  if (!split_exact(v.substr(1), '$', 3, parts + 1)) return "yescrypt must be $y$PARAMS$SALT$CHECKSUM";
  std::string_view params = parts[1], salt = parts[2], sum = parts[3];
  // What crypt_gensalt("$y$", 1..11) writes: flavour j, N 2^(7..16) coded
  // 7-9A-F, r 8 or 32 coded 5/T; anything else could ask Dovecot for more
  // memory than it has.
  auto n_ok = [](char c) { return (c >= '7' && c <= '9') || (c >= 'A' && c <= 'F'); };
  if (params.size() != 3 || params[0] != 'j' || !n_ok(params[1]) || (params[2] != '5' && params[2] != 'T')) {
    return "yescrypt parameters must be what libxcrypt generates (j, N 7-9A-F, r 5 or T)";
  }
  if (salt.empty() || salt.size() > 86 || !all_crypt64(salt)) return "yescrypt salt must be 1-86 of ./0-9A-Za-z";
  if (sum.size() != 43 || !all_crypt64(sum)) return "yescrypt checksum must be 43 of ./0-9A-Za-z";
  return "";
}

// {CRYPT}: the method follows from the prefix.
std::string crypt_problem(std::string_view v) {
  if (v.substr(0, 3) == "$y$") return yescrypt_problem(v);
  if (v.substr(0, 3) == "$6$") return sha512_crypt_problem(v);
  if (v.substr(0, 2) == "$2") return bcrypt_problem(v);
  return "{CRYPT} supports $y$ (yescrypt), $6$ and $2b$ only";
}

std::string argon2_problem(std::string_view v, bool argon2i) {
  std::string_view p[6];  // "", variant, v=19, m=..,t=..,p=.., salt, hash
  if (!split_exact(v, '$', 6, p) || !p[0].empty()) return "Argon2 must be $VARIANT$v=19$m=M,t=T,p=P$SALT$HASH";
  if (p[1] != (argon2i ? "argon2i" : "argon2id")) return "Argon2 variant does not match the scheme";
  if (p[2] != "v=19") return "Argon2 version must be v=19";
  std::string_view cost[3];
  uint64_t m = 0, t = 0, lanes = 0;
  if (!split_exact(p[3], ',', 3, cost) || cost[0].substr(0, 2) != "m=" || cost[1].substr(0, 2) != "t=" ||
      cost[2].substr(0, 2) != "p=") {
    return "Argon2 parameters must be m=M,t=T,p=P";
  }
  if (!parse_count(cost[0].substr(2), 8, 4194304, &m)) return "Argon2 memory must be m=8..4194304 (KiB)";
  if (!parse_count(cost[1].substr(2), argon2i ? 3 : 1, 4294967295u, &t)) {
    return argon2i ? "Argon2i passes must be t=3..4294967295" : "Argon2id passes must be t=1..4294967295";
  }
  if (!parse_count(cost[2].substr(2), 1, 1, &lanes)) return "Argon2 parallelism must be p=1 (what libsodium verifies)";
  if (b64_size(p[4], false) < 8) return "Argon2 salt must be unpadded base64 of at least 8 bytes";
  if (b64_size(p[5], false) < 16) return "Argon2 hash must be unpadded base64 of at least 16 bytes";
  return "";
}

std::string pbkdf2_problem(std::string_view v) {
  std::string_view p[5];  // "", "1", salt, rounds, hex
  uint64_t rounds = 0;
  if (!split_exact(v, '$', 5, p) || !p[0].empty() || p[1] != "1") return "PBKDF2 must be $1$SALT$ROUNDS$HEX";
  if (p[2].empty() || p[2].size() > 64 || !all_crypt64(p[2])) return "PBKDF2 salt must be 1-64 of ./0-9A-Za-z";
  if (!parse_count(p[3], 1000, 4294967295u, &rounds)) return "PBKDF2 rounds must be 1000-4294967295";
  if (p[4].size() != 40 || !is_hex(p[4])) return "PBKDF2 hash must be 40 hex digits";
  return "";
}

std::string scram_problem(std::string_view v) {
  std::string_view p[4];
  uint64_t iter = 0;
  if (!split_exact(v, ',', 4, p)) return "SCRAM-SHA-256 must be ITER,SALT,STOREDKEY,SERVERKEY";
  if (!parse_count(p[0], 4096, 2147483647, &iter)) return "SCRAM-SHA-256 iterations must be 4096-2147483647";
  if (b64_size(p[1], true) < 1) return "SCRAM-SHA-256 salt must be padded base64";
  if (b64_size(p[2], true) != 32 || b64_size(p[3], true) != 32) {
    return "SCRAM-SHA-256 keys must be padded base64 of 32 bytes";
  }
  return "";
}

// Plain and salted digests: base64 of digest (+ salt).
std::string digest_problem(std::string_view scheme, std::string_view v, long digest, bool salted) {
  long n = b64_size(v, true);
  if (salted ? n > digest : n == digest) return "";
  return std::string(scheme) +
         (salted ? " must be padded base64 of a " + std::to_string(digest) + "-byte digest and a salt"
                 : " must be padded base64 of a " + std::to_string(digest) + "-byte digest");
}

struct HashRule {
  std::string_view scheme;
  std::string_view prefix;  // required start of the value, empty if none
  bool crypt3;              // a crypt(3) string: ask crypt_checksalt first
  std::string (*problem)(std::string_view value);
};

const HashRule kHashRules[] = {
    {"SHA512-CRYPT", "$6$", true, sha512_crypt_problem},
    {"BLF-CRYPT", "$2", true, bcrypt_problem},
    {"CRYPT", "", true, crypt_problem},
    // Legacy: crypt_checksalt refuses them; kept here so the message says so.
    {"SHA256-CRYPT", "$5$", true, nullptr},
    {"MD5-CRYPT", "$1$", true, nullptr},
    {"ARGON2I", "$argon2i$", false, [](std::string_view v) { return argon2_problem(v, true); }},
    {"ARGON2ID", "$argon2id$", false, [](std::string_view v) { return argon2_problem(v, false); }},
    {"PBKDF2", "$1$", false, pbkdf2_problem},
    {"SCRAM-SHA-256", "", false, scram_problem},
    {"SSHA512", "", false, [](std::string_view v) { return digest_problem("SSHA512", v, 64, true); }},
    {"SSHA256", "", false, [](std::string_view v) { return digest_problem("SSHA256", v, 32, true); }},
    {"SSHA", "", false, [](std::string_view v) { return digest_problem("SSHA", v, 20, true); }},
    {"SHA512", "", false, [](std::string_view v) { return digest_problem("SHA512", v, 64, false); }},
    {"SHA256", "", false, [](std::string_view v) { return digest_problem("SHA256", v, 32, false); }},
};

}  // namespace

std::string hash_problem(std::string_view scheme, std::string_view value, HashUse use) {
  const HashRule* rule = nullptr;
  for (const auto& r : kHashRules) {
    if (r.scheme == scheme) rule = &r;
  }
  // The scheme is named only when it is a known one: an unknown "scheme"
  // may be a password typed in the wrong place.
  if (rule == nullptr) {
    std::string known;
    for (const auto& r : kHashRules) known += (known.empty() ? "" : ", ") + std::string(r.scheme);
    return "unknown scheme (known: " + known + ")";
  }
  if (value.empty()) return "no hash after {" + std::string(scheme) + "}";
  if (value.substr(0, rule->prefix.size()) != rule->prefix) {
    return "{" + std::string(scheme) + "} hash must start with " + std::string(rule->prefix);
  }
  if (rule->crypt3) {
    std::string why = checksalt_problem(value);
    if (!why.empty() && use == HashUse::kStored && why.rfind("legacy", 0) == 0) return legacy_problem(value);
    if (!why.empty()) return why;
  }
  if (rule->problem == nullptr) return use == HashUse::kStored ? legacy_problem(value) : "legacy hash method refused";
  return rule->problem(value);
}

}  // namespace vmail
