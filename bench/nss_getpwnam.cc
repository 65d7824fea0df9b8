// getpwnam(3) latency through one NSS service, for bench/nss_getpwnam.sh.
//   nss_getpwnam_bench SERVICE PREFIX SUFFIX USERS LOOKUPS
// Looks up LOOKUPS pseudo-random names PREFIX<7-digit i>SUFFIX, i < USERS,
// through glibc's getpwnam with only SERVICE configured (as `getent -s` does),
// and prints the mean microseconds per lookup: wall-clock time, then the
// process's CPU time (user + system; steadier on a shared machine).
// Exit 1 if a name is not found.
#include <nss.h>
#include <pwd.h>

#include <time.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

int main(int argc, char** argv) {
  if (argc != 6) {
    std::fprintf(stderr, "usage: %s SERVICE PREFIX SUFFIX USERS LOOKUPS\n", argv[0]);
    return 64;
  }
  if (__nss_configure_lookup("passwd", argv[1]) != 0) {
    std::fprintf(stderr, "cannot configure passwd: %s\n", argv[1]);
    return 1;
  }
  std::string prefix = argv[2];
  std::string suffix = argv[3];
  unsigned long users = std::strtoul(argv[4], nullptr, 10);
  unsigned long lookups = std::strtoul(argv[5], nullptr, 10);
  auto key = [&](unsigned long i) {
    char digits[24];
    std::snprintf(digits, sizeof digits, "%07lu", i);
    return prefix + digits + suffix;
  };
  // Warm up: loads the module, opens the database.
  if (getpwnam(key(0).c_str()) == nullptr) {
    std::fprintf(stderr, "%s not found through %s\n", key(0).c_str(), argv[1]);
    return 1;
  }
  unsigned long long state = 88172645463325252ULL;  // xorshift: same keys for every service
  unsigned long missing = 0;
  std::vector<std::string> keys;
  keys.reserve(lookups);
  for (unsigned long n = 0; n < lookups; ++n) {
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    keys.push_back(key(state % users));
  }
  auto cpu_now = [] {
    timespec ts{};
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return static_cast<double>(ts.tv_sec) * 1e6 + static_cast<double>(ts.tv_nsec) / 1e3;
  };
  double cpu_start = cpu_now();
  auto start = std::chrono::steady_clock::now();
  for (const auto& k : keys) {
    if (getpwnam(k.c_str()) == nullptr) ++missing;
  }
  auto elapsed = std::chrono::steady_clock::now() - start;
  double cpu_us = (cpu_now() - cpu_start) / static_cast<double>(lookups);
  double us = std::chrono::duration<double, std::micro>(elapsed).count() / static_cast<double>(lookups);
  std::printf("%.2f %.2f\n", us, cpu_us);
  if (missing != 0) {
    std::fprintf(stderr, "%lu of %lu lookups found nothing\n", missing, lookups);
    return 1;
  }
  return 0;
}
