// Fuzz target: check_display_name. An accepted name is valid UTF-8 of at most
// 128 characters with no control character (C0, DEL, C1) and no ':'.
#include "core/validate.h"
#include "fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  if (!vmail::check_display_name(in).ok()) return 0;
  vmail::fuzz::require(vmail::is_valid_utf8(in), "valid UTF-8", in);
  size_t chars = 0;
  for (size_t i = 0; i < in.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(in[i]);
    if ((c & 0xc0) != 0x80) ++chars;
    vmail::fuzz::require(c >= 0x20 && c != 0x7f && c != ':', "no control character or ':'", in);
    bool c1 = c == 0xc2 && i + 1 < in.size() && static_cast<unsigned char>(in[i + 1]) <= 0x9f;
    vmail::fuzz::require(!c1, "no C1 control", in);
  }
  vmail::fuzz::require(chars <= 128, "at most 128 characters", in);
  return 0;
}
