// Fuzz target: parse_quota. An accepted quota fits SQLite's signed 64 bits
// and format_quota writes it back in a form that parses to the same bytes.
#include <cstdint>

#include "core/validate.h"
#include "fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  auto q = vmail::parse_quota(in);
  if (!q.ok() || !q->has_value()) return 0;
  vmail::fuzz::require(**q <= static_cast<uint64_t>(INT64_MAX), "quota fits int64", in);
  std::string text = vmail::format_quota(**q);
  auto again = vmail::parse_quota(text);
  vmail::fuzz::require(again.ok() && again->has_value() && **again == **q, "quota round-trips", text);
  return 0;
}
