// vmail-auth-wait: a Dovecot checkpassword program that waits out Dovecot's
// passwd-file window and then fails, so the passdb/userdb after it looks at
// the users file again (templates/dovecot/dovecot.conf.mustache).
//
// Dovecot's auth process stats a passwd-file at most once per second of its
// ioloop clock (Dovecot's src/auth/db-passwd-file.c, passwd_file_sync): a lookup in the
// same second as an earlier one uses the table it already has, even when the
// file was replaced since. So a login or an LMTP delivery right after
// `vmail user add` or `user passwd` can find the old table. Only a lookup
// that misses ever gets here; this program sleeps until the next second of
// the real-time clock (Dovecot's ioloop_time is that clock in whole seconds)
// and exits with checkpassword's "no": the following lookup then runs in a
// new second and sees the file as it is now.
//
// It never reads what Dovecot writes to fd 3 (the user name and password):
// the pipe stays open until exit, so Dovecot's write completes either way.
// No arguments are used (Dovecot appends checkpassword-reply's path).
#include <time.h>

#include <cerrno>
#include <cstdlib>

int main() {
  timespec now{};
  if (::clock_gettime(CLOCK_REALTIME, &now) == 0) {
    // 20 ms past the second: Dovecot's event loop reads the clock when it
    // wakes for our exit, so it is already in the new second.
    timespec until{now.tv_sec + 1, 20'000'000};
    while (::clock_nanosleep(CLOCK_REALTIME, TIMER_ABSTIME, &until, nullptr) == EINTR) {
    }
  }
  // checkpassword: 1 = authentication failed; for a lookup (AUTHORIZED set:
  // a userdb lookup or a credentials lookup) 3 = no such user.
  return std::getenv("AUTHORIZED") != nullptr ? 3 : 1;
}
