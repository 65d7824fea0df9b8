#include "core/scheme.h"

namespace vmail {

Result<Scheme> parse_scheme(std::string_view name) {
  std::string upper(name);
  for (char& c : upper) {
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  }
  if (upper == "SHA512-CRYPT") return Scheme::kSha512Crypt;
  if (upper == "BLF-CRYPT") return Scheme::kBlfCrypt;
  if (upper == "YESCRYPT") return Scheme::kYescrypt;
  return Status(Code::kConfig,
                "VMAIL_PASSWORD_SCHEME " + quote(name) + ": unknown scheme (use SHA512-CRYPT, BLF-CRYPT or YESCRYPT)");
}

std::string_view scheme_name(Scheme scheme) {
  switch (scheme) {
    case Scheme::kSha512Crypt: return "SHA512-CRYPT";
    case Scheme::kBlfCrypt: return "BLF-CRYPT";
    case Scheme::kYescrypt: return "YESCRYPT";
  }
  return "SHA512-CRYPT";
}

}  // namespace vmail
