#include <spdlog/spdlog.h>
#include <termios.h>
#include <unistd.h>

#include <cstdio>
#include <iostream>

#include "cli/app.h"
#include "exporters/export.h"

namespace vmail::cli {

std::vector<CommandGroup>& extra_command_groups() {
  static std::vector<CommandGroup> groups;
  return groups;
}

Result<Settings*> Context::settings() {
  if (!settings_) {
    auto s = load_settings(flags, process_env());
    if (!s.ok()) return s.status();
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
  db_ = std::move(*db);
  return db_.get();
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

void print_line(const Context& ctx, const std::string& line) {
  if (ctx.json || ctx.quiet) return;
  std::fputs(line.c_str(), stdout);
  std::fputc('\n', stdout);
}

namespace {

// Reads one line from `fd` without echo; restores the terminal afterwards.
// Echo goes off before the prompt appears, and nothing typed is discarded
// (TCSANOW, not TCSAFLUSH): a password typed or pasted as soon as the prompt
// shows, or ahead of it, is read, never echoed and never lost.
std::optional<std::string> prompt_no_echo(FILE* tty, const char* prompt) {
  int fd = fileno(tty);
  termios old{};
  bool restore = tcgetattr(fd, &old) == 0;
  if (restore) {
    termios quiet = old;
    quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
    quiet.c_lflag |= ECHONL;
    tcsetattr(fd, TCSANOW, &quiet);
  }
  std::fputs(prompt, stderr);
  std::fflush(stderr);
  std::string line;
  int c;
  bool got = false;
  while ((c = std::fgetc(tty)) != EOF) {
    got = true;
    if (c == '\n') break;
    line += static_cast<char>(c);
  }
  if (restore) tcsetattr(fd, TCSANOW, &old);
  if (!got) return std::nullopt;
  return line;
}

}  // namespace

Result<std::string> read_password(bool from_stdin) {
  if (from_stdin) {
    std::string line;
    if (!std::getline(std::cin, line)) return Status(Code::kBadInput, "password: nothing on standard input");
    if (!line.empty() && line.back() == '\r') line.pop_back();
    return line;
  }
  if (!isatty(STDIN_FILENO)) {
    return Status(Code::kUsage, "password: no terminal to prompt on; use --password-stdin or --hash");
  }
  FILE* tty = std::fopen("/dev/tty", "r+");
  if (tty == nullptr) return Status(Code::kUsage, "password: cannot open the terminal; use --password-stdin");
  auto first = prompt_no_echo(tty, "Password: ");
  auto second = first ? prompt_no_echo(tty, "Repeat password: ") : std::nullopt;
  std::fclose(tty);
  if (!first || !second) return Status(Code::kBadInput, "password: no password entered");
  if (*first != *second) return Status(Code::kBadInput, "password: the two entries differ");
  return *first;
}

}  // namespace vmail::cli
