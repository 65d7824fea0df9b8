// Fuzz target: check_password. The message never echoes the password.
#include <string>

#include "core/validate.h"
#include "fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  vmail::Status s = vmail::check_password(in);
  if (s.ok()) {
    vmail::fuzz::require(in.size() >= 8 && in.size() <= 511, "password length", in);
    for (unsigned char c : in) vmail::fuzz::require(c >= 0x20 && c != 0x7f, "no control character", in);
    return 0;
  }
  const std::string& m = s.message();
  bool fixed = m == "password: shorter than 8 bytes" || m == "password: longer than 511 bytes" ||
               m == "password: control character in password";
  vmail::fuzz::require(fixed, "message is fixed text (never the password)", m);
  return 0;
}
