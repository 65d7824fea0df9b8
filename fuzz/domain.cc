// Fuzz target: normalize_domain. An accepted domain is lowercase LDH labels
// and dots, at most 253 bytes, and normalises to itself.
#include "core/validate.h"
#include "fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  auto d = vmail::normalize_domain(in);
  if (!d.ok()) return 0;
  vmail::fuzz::require(d->size() <= 253, "domain length", *d);
  for (char c : *d) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.';
    vmail::fuzz::require(ok, "domain is LDH", *d);
  }
  auto again = vmail::normalize_domain(*d);
  vmail::fuzz::require(again.ok() && *again == *d, "domain normalises to itself", *d);
  return 0;
}
