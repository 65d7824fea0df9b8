// syslog(3) replaced by one line on standard error per message:
//   "<severity>: <message>"
// Interposed with LD_PRELOAD (see CMakeLists.txt): openlog, closelog,
// setlogmask, syslog, vsyslog and the _FORTIFY_SOURCE variants
// __syslog_chk/__vsyslog_chk that Debian's OpenDKIM and libmilter call.
// Thread-safe: each message is formatted into a buffer of its own and
// written with one write(2) (a pipe keeps writes up to PIPE_BUF whole).
// Async-signal-safety is what glibc's own syslog gives: none.
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <unistd.h>

#include <atomic>

// <syslog.h> is left out: it declares these functions noexcept (__THROW),
// and defining them here needs only its numbers (the same on every Linux).
#define LOG_PRIMASK 0x07
#define LOG_PRI(p) ((p)&LOG_PRIMASK)
#define LOG_MASK(pri) (1 << (pri))

#define VMAIL_EXPORT extern "C" __attribute__((visibility("default")))

namespace {

std::atomic<int> log_mask{0xff};

const char* severity(int priority) {
  static const char* const names[] = {"emerg", "alert", "crit", "error", "warning", "notice", "info", "debug"};
  return names[LOG_PRI(priority)];
}

void log_line(int priority, const char* format, va_list ap) {
  if ((LOG_MASK(LOG_PRI(priority)) & log_mask.load()) == 0) return;
  int saved_errno = errno;  // %m in `format` names it (glibc's printf does %m)
  char buf[2048];
  int head = snprintf(buf, sizeof buf, "%s: ", severity(priority));
  errno = saved_errno;
  int n = vsnprintf(buf + head, sizeof buf - static_cast<size_t>(head) - 1, format, ap);
  size_t len = static_cast<size_t>(head) + (n < 0 ? 0 : static_cast<size_t>(n));
  if (len > sizeof buf - 2) len = sizeof buf - 2;  // cut: the end of a very long message
  while (len > 0 && buf[len - 1] == '\n') --len;
  // One message, one line: embedded newlines would forge log lines.
  for (size_t i = 0; i < len; ++i) {
    if (buf[i] == '\n' || buf[i] == '\r') buf[i] = ' ';
  }
  buf[len++] = '\n';
  ssize_t written;
  do {
    written = write(STDERR_FILENO, buf, len);
  } while (written < 0 && errno == EINTR);
  errno = saved_errno;
}

}  // namespace

// The identity and facility would only prefix what the launcher already
// prefixes with the daemon's name.
VMAIL_EXPORT void openlog(const char*, int, int) {}
VMAIL_EXPORT void closelog(void) {}

VMAIL_EXPORT int setlogmask(int mask) {
  if (mask == 0) return log_mask.load();
  return log_mask.exchange(mask);
}

VMAIL_EXPORT void vsyslog(int priority, const char* format, va_list ap) { log_line(priority, format, ap); }

VMAIL_EXPORT void syslog(int priority, const char* format, ...) {
  va_list ap;
  va_start(ap, format);
  log_line(priority, format, ap);
  va_end(ap);
}

VMAIL_EXPORT void __vsyslog_chk(int priority, int, const char* format, va_list ap) { log_line(priority, format, ap); }

VMAIL_EXPORT void __syslog_chk(int priority, int, const char* format, ...) {
  va_list ap;
  va_start(ap, format);
  log_line(priority, format, ap);
  va_end(ap);
}
