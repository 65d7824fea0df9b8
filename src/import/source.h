// Readers for batch-import files (SPEC "Batch import"): CSV per RFC 4180
// (through libcsv) and docker-mailserver's `postfix-accounts.cf` and
// `postfix-virtual.cf`. They turn bytes into rows of named columns, each with
// the line it starts on, and check syntax only: quoting, field counts, UTF-8.
// What a value means is checked by the importer (import.h) through validate.h.
//
// Every reader is pure and thread-safe, never throws, and accepts any bytes
// (src/import/fuzz_source.cc fuzzes them). Lines are counted from 1 and end
// in LF or CRLF; a leading UTF-8 byte order mark is ignored.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace vmail {

// One problem with one line of the input file.
struct LineError {
  size_t line = 0;
  std::string reason;
};

struct SourceRow {
  size_t line = 0;                  // where the row starts (a quoted field may span lines)
  std::vector<std::string> fields;  // one per column, valid UTF-8
};

struct SourceTable {
  // Lowercase column names: from the CSV header, or fixed by the dms format.
  std::vector<std::string> columns;
  size_t header_line = 0;  // 0 when the format has no header
  // Rows that passed the syntax checks, in file order; rows with a syntax
  // problem are left out and reported in `errors` instead.
  std::vector<SourceRow> rows;
  std::vector<LineError> errors;  // in line order
  // Things that were accepted but deserve a word (e.g. ignored dms extras).
  std::vector<LineError> warnings;
};

// CSV with a header row. Blank lines are skipped. A row whose field count
// differs from the header's, a stray or unterminated quote, or invalid UTF-8 is
// an error; a quoting error stops the reading there (what follows cannot be
// trusted). An empty file is an error at line 1.
SourceTable read_csv(std::string_view data);

// `email|{SCHEME}hash[|extra...]` per line -> columns email, password_hash.
// Blank lines and lines starting with `#` are skipped; the extra fields are
// ignored with one warning.
SourceTable read_dms_accounts(std::string_view data);

// `source dest[,dest...]` per line -> columns source, destination. Blank lines
// and `#` comments are skipped; a line starting with whitespace continues the
// previous one, as in Postfix's map sources.
SourceTable read_dms_virtual(std::string_view data);

}  // namespace vmail
