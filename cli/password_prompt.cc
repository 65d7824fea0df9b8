#include "cli/password_prompt.h"

#include <signal.h>
#include <termios.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <iostream>
#include <optional>

#include "core/files.h"

namespace vmail::cli {
namespace {

// The terminal to restore from a signal handler: set before the handlers are
// installed, cleared after they are removed.
volatile sig_atomic_t g_tty_fd = -1;
termios g_tty_saved{};

constexpr std::array<int, 3> kRestoreOn = {SIGINT, SIGTERM, SIGHUP};

// Restores the terminal, then dies of the same signal: the parent learns that
// the prompt was interrupted (a shell stops a loop on it), not that vmail
// handled it. Only async-signal-safe calls.
extern "C" void restore_and_reraise(int sig) {
  int fd = g_tty_fd;
  if (fd >= 0) {
    tcsetattr(fd, TCSANOW, &g_tty_saved);
    (void)!write(fd, "\n", 1);  // the shell's prompt starts on its own line
  }
  signal(sig, SIG_DFL);
  raise(sig);  // delivered when the handler returns and unblocks it
}

// Echo off on `fd` for its lifetime, with handlers that put echo back if a
// signal ends the process first. Echo goes off before the prompt appears, and
// nothing typed is discarded (TCSANOW, not TCSAFLUSH): a password typed or
// pasted as soon as the prompt shows, or ahead of it, is read, never echoed
// and never lost.
class EchoOff {
 public:
  explicit EchoOff(int fd) : fd_(fd) {
    if (tcgetattr(fd, &saved_) != 0) return;
    active_ = true;
    g_tty_saved = saved_;
    g_tty_fd = fd;
    struct sigaction sa {};
    sa.sa_handler = restore_and_reraise;
    sigemptyset(&sa.sa_mask);
    for (int sig : kRestoreOn) sigaddset(&sa.sa_mask, sig);  // one handler at a time
    for (size_t i = 0; i < kRestoreOn.size(); ++i) {
      sigaction(kRestoreOn[i], nullptr, &previous_[i]);
      if (previous_[i].sa_handler != SIG_IGN) sigaction(kRestoreOn[i], &sa, nullptr);
    }
    termios quiet = saved_;
    quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
    quiet.c_lflag |= ECHONL;
    tcsetattr(fd, TCSANOW, &quiet);
  }
  ~EchoOff() {
    if (!active_) return;
    tcsetattr(fd_, TCSANOW, &saved_);
    for (size_t i = 0; i < kRestoreOn.size(); ++i) sigaction(kRestoreOn[i], &previous_[i], nullptr);
    g_tty_fd = -1;
  }
  EchoOff(const EchoOff&) = delete;
  EchoOff& operator=(const EchoOff&) = delete;

 private:
  int fd_;
  bool active_ = false;
  termios saved_{};
  std::array<struct sigaction, kRestoreOn.size()> previous_{};
};

// Reads one line from `tty` without echo; nullopt at end of input.
std::optional<std::string> prompt_no_echo(FILE* tty, const char* prompt) {
  EchoOff echo_off(fileno(tty));
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
  if (!got) return std::nullopt;
  return line;
}

}  // namespace

Result<std::string> read_stdin_line(const std::string& field, size_t max_bytes) {
  std::string line;
  bool got = false;
  char c;
  while (std::cin.get(c)) {
    got = true;
    if (c == '\n') break;
    // Never more than the limit in memory: the rest is not read.
    if (line.size() == max_bytes) {
      return Status(Code::kBadInput, field + ": the line on standard input is longer than " + format_limit(max_bytes));
    }
    line += c;
  }
  if (!got) return Status(Code::kBadInput, field + ": nothing on standard input");
  if (!line.empty() && line.back() == '\r') line.pop_back();
  return line;
}

Result<std::string> read_password(bool from_stdin) {
  // A password is at most 511 bytes (check_password says so); a longer line
  // is read only up to this bound.
  if (from_stdin) return read_stdin_line("password", kMaxSecretLine);
  if (!isatty(STDIN_FILENO)) {
    return Status(Code::kUsage, "password: no terminal to prompt on; use --password-stdin, --hash-stdin or --hash");
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
