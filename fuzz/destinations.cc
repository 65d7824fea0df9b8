// Fuzz target: parse_destinations. Input: SOURCE 0xff LIST. Accepted
// destinations are plain addresses, distinct, none equal to the source, each
// parsing back to itself.
#include <algorithm>

#include "core/validate.h"
#include "fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto f = vmail::fuzz::fields(data, size);
  std::string source = f[0];
  std::string list = f.size() > 1 ? f[1] : "";
  auto d = vmail::parse_destinations(list, source);
  if (!d.ok()) return 0;
  vmail::fuzz::require(!d->empty(), "at least one destination", list);
  for (size_t i = 0; i < d->size(); ++i) {
    const std::string& x = (*d)[i];
    vmail::fuzz::require(vmail::fuzz::plain(x), "plain destination", x);
    vmail::fuzz::require(x != source, "not the source", x);
    vmail::fuzz::require(std::find(d->begin() + static_cast<long>(i) + 1, d->end(), x) == d->end(), "distinct", x);
    auto again = vmail::parse_address(x);
    vmail::fuzz::require(again.ok() && again->str() == x, "destination round-trips", x);
  }
  return 0;
}
