// libFuzzer target for the batch-import readers (src/import/source.h): any
// bytes must give a table whose rows fit the columns, hold valid UTF-8, and
// come in line order within the file, without crashing or leaking.
//   bench/fuzz_import.sh [seconds]
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "core/validate.h"
#include "import/source.h"

namespace {

void check(const vmail::SourceTable& t, std::string_view data) {
  size_t lines = 1;
  for (char c : data) lines += c == '\n';
  size_t last = 0;
  for (const auto& row : t.rows) {
    if (row.fields.size() != t.columns.size()) std::abort();
    if (row.line < last || row.line == 0 || row.line > lines) std::abort();
    last = row.line;
    for (const auto& f : row.fields) {
      if (!vmail::is_valid_utf8(f)) std::abort();
    }
  }
  for (const auto& e : t.errors) {
    if (e.line == 0 || e.line > lines || e.reason.empty()) std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  check(vmail::read_csv(in), in);
  check(vmail::read_dms_accounts(in), in);
  check(vmail::read_dms_virtual(in), in);
  return 0;
}
