// Fuzz target: check_hash. An accepted hash starts with {SCHEME}, holds no
// ':', whitespace or control character, and the scheme part is accepted
// case-insensitively; a refusal is one line that never repeats the hash.
#include <string>

#include "core/validate.h"
#include "fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  vmail::Status s = vmail::check_hash(in, "password_hash");
  if (!s.ok()) {
    vmail::fuzz::require(s.message().rfind("password_hash: ", 0) == 0, "message names the field", s.message());
    // Issue 22: never the hash itself. Past the first check it starts with
    // '{' and holds no space; no message holds such a run of 16 bytes (the
    // longest, "{SCRAM-SHA-256}", is 15), so none can match by chance.
    if (in.size() >= 16) {
      vmail::fuzz::require(s.message().find(in) == std::string::npos, "the hash is not echoed", s.message());
    }
    vmail::fuzz::require(s.message().find('\n') == std::string::npos, "one-line message", s.message());
    return 0;
  }
  vmail::fuzz::require(!in.empty() && in.front() == '{', "starts with {", in);
  for (unsigned char c : in) vmail::fuzz::require(c > 0x20 && c < 0x7f && c != ':', "plain hash", in);
  std::string lower(in);
  for (size_t i = 1; i < lower.size() && lower[i] != '}'; ++i) {
    if (lower[i] >= 'A' && lower[i] <= 'Z') lower[i] = static_cast<char>(lower[i] - 'A' + 'a');
  }
  vmail::fuzz::require(vmail::check_hash(lower).ok(), "scheme is case-insensitive", lower);
  return 0;
}
