// Fuzz target: parse_address and parse_alias_source. An accepted address is
// lowercase, plain (no separator a map or passwd-file line could split on)
// and parses back to itself.
#include "core/validate.h"
#include "fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace vmail;
  std::string_view in(reinterpret_cast<const char*>(data), size);
  for (bool alias : {false, true}) {
    auto a = alias ? parse_alias_source(in) : parse_address(in);
    if (!a.ok()) {
      fuzz::require(a.status().message().find('\n') == std::string::npos, "one-line message", in);
      continue;
    }
    std::string text = a->local.empty() ? "@" + a->domain : a->str();
    fuzz::require(fuzz::plain(text), "accepted address is plain", text);
    auto again = alias ? parse_alias_source(text) : parse_address(text);
    fuzz::require(again.ok() && again->local == a->local && again->domain == a->domain, "address round-trips", text);
  }
  return 0;
}
