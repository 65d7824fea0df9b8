// Incremental postmap: when a map changed by a few lines (one `user add` in
// 100k users), its database is updated from a copy of the old one with
// `postmap -i -r` (the lines to add or replace) and `postmap -d -` (the keys
// to remove) instead of being rebuilt from every line.
//
// Safe only when the old database was built from exactly the old text: each
// export records the text's digest beside the map (`<map>.digest`) before it
// renames the database and the text into place, so a crash in between leaves
// a digest that matches neither and the next export rebuilds in full.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace vmail {

struct MapDelta {
  std::string puts;     // `key value` lines to add or replace
  std::string deletes;  // keys to remove, one a line
  size_t changes = 0;
};

// The difference between two map texts in the exporters' form (`key value`
// lines, keys strictly increasing). nullopt when either text is not in that
// form, or when so much changed that a rebuild is cheaper.
std::optional<MapDelta> plan_map_delta(std::string_view old_text, std::string_view new_text);

// What `<map>.digest` holds for `text` built as `map_type`.
std::string map_digest(std::string_view map_type, std::string_view text);

// `<source>.digest`.
std::string map_digest_path(const std::string& source);

}  // namespace vmail
