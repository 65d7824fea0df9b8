#include "exporters/map_delta.h"

#include <algorithm>
#include <cstdio>
#include <functional>
#include <vector>

namespace vmail {
namespace {

struct Line {
  std::string_view key;
  std::string_view whole;  // with its newline
};

// Splits `text` into lines with strictly increasing keys; false when a line
// has no value, no newline, starts with `#`, or its key is not greater than
// the previous one.
bool split_lines(std::string_view text, std::vector<Line>* out) {
  size_t start = 0;
  while (start < text.size()) {
    size_t nl = text.find('\n', start);
    if (nl == std::string_view::npos) return false;
    std::string_view line = text.substr(start, nl - start);
    size_t space = line.find(' ');
    // Postfix would read a `#` line as a comment: not a line we write.
    if (space == 0 || space == std::string_view::npos || space + 1 == line.size() || line[0] == '#') return false;
    std::string_view key = line.substr(0, space);
    if (!out->empty() && !(out->back().key < key)) return false;
    out->push_back({key, text.substr(start, nl + 1 - start)});
    start = nl + 1;
  }
  return true;
}

}  // namespace

std::optional<MapDelta> plan_map_delta(std::string_view old_text, std::string_view new_text) {
  std::vector<Line> old_lines;
  std::vector<Line> new_lines;
  if (old_text.empty() || !split_lines(old_text, &old_lines) || !split_lines(new_text, &new_lines)) {
    return std::nullopt;
  }
  // Past a few percent of the map, a rebuild is about as fast and leaves a
  // compact database.
  size_t limit = std::max<size_t>(64, new_lines.size() / 20);
  MapDelta delta;
  size_t i = 0;
  size_t j = 0;
  while (i < old_lines.size() || j < new_lines.size()) {
    bool changed = true;
    if (j == new_lines.size() || (i < old_lines.size() && old_lines[i].key < new_lines[j].key)) {
      delta.deletes.append(old_lines[i++].key);
      delta.deletes += '\n';
    } else if (i == old_lines.size() || new_lines[j].key < old_lines[i].key) {
      delta.puts.append(new_lines[j++].whole);
    } else {
      changed = old_lines[i].whole != new_lines[j].whole;
      if (changed) delta.puts.append(new_lines[j].whole);
      ++i;
      ++j;
    }
    if (changed && ++delta.changes > limit) return std::nullopt;
  }
  return delta;
}

std::string map_digest(std::string_view map_type, std::string_view text) {
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016zx", std::hash<std::string_view>{}(text));
  return std::string(map_type) + " " + std::to_string(text.size()) + " " + hex + "\n";
}

std::string map_digest_path(const std::string& source) { return source + ".digest"; }

}  // namespace vmail
