#include "core/status.h"

#include <cstdio>

namespace vmail {

std::string quote(std::string_view value) {
  constexpr size_t kMax = 80;
  std::string out = "\"";
  size_t shown = 0;
  for (unsigned char c : value) {
    if (shown++ == kMax) {
      out += "...";
      break;
    }
    if (c < 0x20 || c == 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    } else if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else {
      out += static_cast<char>(c);
    }
  }
  out += '"';
  return out;
}

}  // namespace vmail
