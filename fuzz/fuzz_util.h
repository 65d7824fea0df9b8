// Helpers shared by the fuzz targets: split libFuzzer input into fields and
// abort (the crash libFuzzer and the replay driver report) when an invariant
// breaks.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

namespace vmail::fuzz {

// 0xff never appears in UTF-8, so no value a validator accepts can hold it:
// it separates the fields of one input.
inline std::vector<std::string> fields(const uint8_t* data, size_t size) {
  std::vector<std::string> out(1);
  for (size_t i = 0; i < size; ++i) {
    if (data[i] == 0xff) {
      out.emplace_back();
    } else {
      out.back() += static_cast<char>(data[i]);
    }
  }
  return out;
}

inline void require(bool ok, const char* what, std::string_view value) {
  if (ok) return;
  std::fprintf(stderr, "invariant broken: %s: [%.*s]\n", what, static_cast<int>(value.size()), value.data());
  std::abort();
}

// No byte that could end a line or split a field of a passwd-file or map line.
inline bool plain(std::string_view s) {
  for (unsigned char c : s) {
    if (c <= 0x20 || c == 0x7f || c == ':' || c == ',') return false;
  }
  return true;
}

// The lines of a rendered file, which must end with a newline.
inline std::vector<std::string_view> lines_of(const std::string& out) {
  std::vector<std::string_view> lines;
  size_t start = 0;
  while (start < out.size()) {
    size_t end = out.find('\n', start);
    require(end != std::string::npos, "file ends with a newline", out);
    lines.emplace_back(out.data() + start, end - start);
    start = end + 1;
  }
  return lines;
}

}  // namespace vmail::fuzz
