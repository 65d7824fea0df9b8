#include <spdlog/spdlog.h>

#include <locale.h>
#include <wchar.h>

#include <algorithm>
#include <cstdio>
#include <cwchar>
#include <iostream>

#include "cli/app.h"
#include "core/validate.h"
#include "exporters/export.h"
#include "pg/replica.h"
#include "pg/url.h"

namespace vmail::cli {

Result<Settings*> Context::settings() {
  if (!settings_) {
    auto s = load_settings(flags, process_env());
    if (!s.ok()) return s.status();
    // Before any command runs, read-only ones too: a password in the URL, or
    // a remote server without verified TLS, is refused (78), not used.
    if (!s->upstream.empty()) {
      if (Status st = pg::check_url(s->upstream, "VMAIL_DB"); !st.ok()) return st;
    }
    settings_ = std::move(*s);
  }
  return &*settings_;
}

Result<Database*> Context::database() {
  if (db_) return db_.get();
  auto s = settings();
  if (!s.ok()) return s.status();
  auto db = Database::open_migrated((*s)->db);
  if (!db.ok()) return db.status();
  auto recorded = (*db)->recorded_settings();
  if (!recorded.ok()) return recorded.status();
  if (Status st = apply_recorded(**s, *recorded); !st.ok()) return st;
  if (!(*s)->upstream.empty()) {
    auto joined = pg::join_shared_store(**s, **db);
    if (!joined.ok()) return joined.status();
    upstream_ = joined->conn;
  }
  db_ = std::move(*db);
  return db_.get();
}

Result<Database*> Context::reading_database() {
  if (db_) return db_.get();
  if (read_db_) return read_db_.get();
  auto s = settings();
  if (!s.ok()) return s.status();
  if (!(*s)->upstream.empty()) return database();
  auto db = Database::open_for_reading((*s)->db);
  if (!db.ok()) return db.status();
  auto recorded = (*db)->recorded_settings();
  if (!recorded.ok()) return recorded.status();
  if (Status st = apply_recorded(**s, *recorded); !st.ok()) return st;
  read_db_ = std::move(*db);
  return read_db_.get();
}

Result<Store> Context::reading_store() {
  auto db = reading_database();
  if (!db.ok()) return db.status();
  return Store(**db, actor());
}

Actor Context::actor() const { return Actor::current(command); }

Result<Store> Context::store() {
  auto db = database();
  if (!db.ok()) return db.status();
  return Store(**db, actor());
}

Status Context::export_after_change() {
  if (no_export) return Status::Ok();
  auto db = database();
  if (!db.ok()) return db.status();
  auto report = export_all(**db, **settings());
  if (!report.ok()) {
    return Status(report.status().code(),
                  "export failed, the change is kept (run `vmail export` to retry): " + report.status().message());
  }
  for (const auto& path : report->written) spdlog::debug("exported {}", path);
  return Status::Ok();
}

Result<std::optional<std::string>> domain_filter(const std::string& input) {
  if (input.empty()) return std::optional<std::string>();
  auto domain = normalize_domain(input);
  if (!domain.ok()) return domain.status();
  return std::optional<std::string>(*domain);
}

void print_line(const Context& ctx, const std::string& line) {
  if (ctx.json || ctx.quiet) return;
  std::fputs(line.c_str(), stdout);
  std::fputc('\n', stdout);
}

void print_data(const std::string& line) {
  std::fputs(line.c_str(), stdout);
  std::fputc('\n', stdout);
}

size_t display_width(std::string_view text) {
  // glibc's width tables, whatever locale the admin runs in (C.UTF-8 is
  // built into glibc); without it each character counts one column.
  static const locale_t utf8 = newlocale(LC_CTYPE_MASK, "C.UTF-8", static_cast<locale_t>(nullptr));
  locale_t previous = utf8 != nullptr ? uselocale(utf8) : nullptr;
  size_t width = 0;
  std::mbstate_t state{};
  for (size_t at = 0; at < text.size();) {
    wchar_t wc = 0;
    size_t n = utf8 != nullptr ? std::mbrtowc(&wc, text.data() + at, text.size() - at, &state) : 1;
    if (n == static_cast<size_t>(-1) || n == static_cast<size_t>(-2) || n == 0) {
      state = std::mbstate_t{};
      width += 1;
      at += 1;
      continue;
    }
    if (utf8 == nullptr && (static_cast<unsigned char>(text[at]) & 0xC0) == 0x80) {
      at += 1;  // a continuation byte: counted with its first byte
      continue;
    }
    int w = utf8 != nullptr ? wcwidth(wc) : 1;
    width += w < 0 ? 1 : static_cast<size_t>(w);
    at += n;
  }
  if (previous != nullptr) uselocale(previous);
  return width;
}

void print_table(const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> width;
  for (const auto& row : rows) {
    width.resize(std::max(width.size(), row.size()));
    for (size_t i = 0; i < row.size(); ++i) width[i] = std::max(width[i], display_width(row[i]));
  }
  for (const auto& row : rows) {
    std::string line;
    for (size_t i = 0; i < row.size(); ++i) {
      line += row[i];
      if (i + 1 < row.size()) line += std::string(width[i] - display_width(row[i]) + 2, ' ');
    }
    std::cout << line << '\n';
  }
}

void print_json(const nlohmann::ordered_json& value) { std::cout << value.dump(2) << '\n'; }

}  // namespace vmail::cli
