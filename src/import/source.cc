#include "import/source.h"

#include <csv.h>

#include <cstring>

#include "core/status.h"
#include "core/validate.h"

namespace vmail {
namespace {

std::string_view strip_bom(std::string_view data) {
  if (data.substr(0, 3) == "\xEF\xBB\xBF") data.remove_prefix(3);
  return data;
}

// Calls `fn(line_number, line)` for every physical line, without its LF or CRLF.
template <class Fn>
void for_each_line(std::string_view data, Fn&& fn) {
  size_t number = 1;
  while (!data.empty()) {
    size_t end = data.find('\n');
    std::string_view line = data.substr(0, end);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    fn(number++, line);
    if (end == std::string_view::npos) break;
    data.remove_prefix(end + 1);
  }
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

bool is_blank_or_comment(std::string_view line) {
  std::string_view t = trim(line);
  return t.empty() || t.front() == '#';
}

// What libcsv's callbacks build up. libcsv reports a field when it ends and a
// row when its terminator is seen, but never where in the input that was; the
// input is therefore fed one physical line at a time, so that `line` is the
// line being parsed whenever a callback runs.
struct CsvState {
  size_t line = 1;
  size_t record_line = 1;  // where the record being read started
  std::vector<std::string> fields;
  std::vector<SourceRow> records;
};

void on_field(void* data, size_t len, void* state) {
  auto* s = static_cast<CsvState*>(state);
  s->fields.emplace_back(static_cast<const char*>(data), data == nullptr ? 0 : len);
}

void on_row_end(int terminator, void* state) {
  auto* s = static_cast<CsvState*>(state);
  // With CSV_REPALL_NL every unquoted CR and LF ends a row, so blank lines
  // (and the LF of a CRLF) arrive as rows without fields: skip those.
  if (!s->fields.empty()) s->records.push_back(SourceRow{s->record_line, std::move(s->fields)});
  s->fields.clear();
  // The next record starts after this terminator: on the next line after an
  // LF, on this one after a CR (whose LF, if any, comes next).
  s->record_line = terminator == '\n' ? s->line + 1 : s->line;
}

// RFC 4180 fields keep their spaces; libcsv would trim unquoted ones.
int no_spaces(unsigned char) { return 0; }

}  // namespace

SourceTable read_csv(std::string_view data) {
  SourceTable table;
  data = strip_bom(data);
  csv_parser parser;
  if (csv_init(&parser, CSV_STRICT | CSV_STRICT_FINI | CSV_REPALL_NL) != 0) {
    table.errors.push_back({1, "out of memory"});
    return table;
  }
  csv_set_space_func(&parser, no_spaces);
  CsvState state;
  bool broken = false;
  std::string_view rest = data;
  while (!rest.empty()) {
    size_t end = rest.find('\n');
    size_t len = end == std::string_view::npos ? rest.size() : end + 1;
    if (csv_parse(&parser, rest.data(), len, on_field, on_row_end, &state) != len) {
      table.errors.push_back({state.line, csv_error(&parser) == CSV_EPARSE
                                              ? "malformed quoting: a '\"' inside an unquoted field, or text "
                                                "after a closing quote (double a quote inside a quoted field)"
                                              : "out of memory"});
      broken = true;
      break;
    }
    rest.remove_prefix(len);
    ++state.line;
  }
  if (!broken) {
    if (csv_fini(&parser, on_field, on_row_end, &state) != 0) {
      table.errors.push_back({state.record_line, "unterminated quoted field (no closing '\"' before the end of file)"});
    }
  }
  csv_free(&parser);

  if (state.records.empty()) {
    if (table.errors.empty()) table.errors.push_back({1, "empty file: a header row is required"});
    return table;
  }
  SourceRow& header = state.records.front();
  table.header_line = header.line;
  for (const std::string& name : header.fields) {
    if (!is_valid_utf8(name)) {
      table.errors.insert(table.errors.begin(), {header.line, "header: invalid UTF-8"});
      return table;
    }
    std::string lower(trim(name));
    for (char& c : lower) {
      if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    }
    table.columns.push_back(std::move(lower));
  }
  std::vector<LineError> row_errors;
  for (size_t i = 1; i < state.records.size(); ++i) {
    SourceRow& row = state.records[i];
    if (row.fields.size() != table.columns.size()) {
      row_errors.push_back({row.line, std::to_string(row.fields.size()) + " fields, the header has " +
                                          std::to_string(table.columns.size())});
      continue;
    }
    bool utf8 = true;
    for (size_t f = 0; f < row.fields.size() && utf8; ++f) {
      if (!is_valid_utf8(row.fields[f])) {
        row_errors.push_back({row.line, "column " + quote(table.columns[f]) + ": invalid UTF-8"});
        utf8 = false;
      }
    }
    if (utf8) table.rows.push_back(std::move(row));
  }
  // A quoting error ends the file, so it comes after every row error.
  row_errors.insert(row_errors.end(), table.errors.begin(), table.errors.end());
  table.errors = std::move(row_errors);
  return table;
}

SourceTable read_dms_accounts(std::string_view data) {
  SourceTable table;
  table.columns = {"email", "password_hash"};
  for_each_line(strip_bom(data), [&](size_t number, std::string_view line) {
    if (is_blank_or_comment(line)) return;
    if (!is_valid_utf8(line)) {
      table.errors.push_back({number, "invalid UTF-8"});
      return;
    }
    size_t bar = line.find('|');
    if (bar == std::string_view::npos) {
      table.errors.push_back({number, "expected email|{SCHEME}hash"});
      return;
    }
    std::string_view email = trim(line.substr(0, bar));
    std::string_view hash = line.substr(bar + 1);
    size_t extra = hash.find('|');
    if (extra != std::string_view::npos) {
      if (table.warnings.empty()) {
        table.warnings.push_back({number, "fields after the hash are ignored (here and on any later line)"});
      }
      hash = hash.substr(0, extra);
    }
    table.rows.push_back(SourceRow{number, {std::string(email), std::string(trim(hash))}});
  });
  return table;
}

SourceTable read_dms_virtual(std::string_view data) {
  SourceTable table;
  table.columns = {"source", "destination"};
  bool continuable = false;  // the previous line was a row a continuation may extend
  for_each_line(strip_bom(data), [&](size_t number, std::string_view line) {
    if (is_blank_or_comment(line)) return;
    if (!is_valid_utf8(line)) {
      table.errors.push_back({number, "invalid UTF-8"});
      continuable = false;
      return;
    }
    if (line.front() == ' ' || line.front() == '\t') {
      if (!continuable) {
        table.errors.push_back({number, "continuation line (starts with whitespace) without a line to continue"});
        return;
      }
      std::string& dest = table.rows.back().fields[1];
      dest += " ";
      dest += trim(line);
      return;
    }
    size_t space = line.find_first_of(" \t");
    std::string_view dests = space == std::string_view::npos ? std::string_view() : trim(line.substr(space));
    if (dests.empty()) {
      table.errors.push_back({number, "expected SOURCE DEST[,DEST...]"});
      continuable = false;
      return;
    }
    table.rows.push_back(SourceRow{number, {std::string(line.substr(0, space)), std::string(dests)}});
    continuable = true;
  });
  return table;
}

}  // namespace vmail
