#include "pg/url.h"

#include <arpa/inet.h>
#include <libpq-fe.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <memory>
#include <optional>
#include <vector>

namespace vmail::pg {
namespace {

Status refuse(const std::string& name, const std::string& why) { return Status(Code::kConfig, name + ": " + why); }

// libpq's parse error without what it quotes from the URL (`invalid
// percent-encoded token: "%zz"` could be part of a password).
std::string parse_reason(const char* error) {
  std::string text = error ? error : "";
  text = text.substr(0, text.find_first_of("\"\n"));
  while (!text.empty() && (text.back() == ' ' || text.back() == ':')) text.pop_back();
  return text.empty() ? "not a connection URL" : text;
}

std::vector<std::string> split_list(const std::string& value) {
  std::vector<std::string> out;
  size_t start = 0;
  while (true) {
    size_t comma = value.find(',', start);
    out.push_back(value.substr(start, comma == std::string::npos ? std::string::npos : comma - start));
    if (comma == std::string::npos) return out;
    start = comma + 1;
  }
}

// Where libpq connects without leaving the machine: a Unix socket folder
// (or an abstract socket, '@'), the default (a socket) for an empty entry,
// localhost, 127.0.0.0/8, ::1 and ::ffff:127.0.0.0/104. Any other name may
// resolve anywhere, so it counts as remote.
bool stays_on_machine(const std::string& host) {
  if (host.empty() || host.front() == '/' || host.front() == '@') return true;
  std::string lower = host;
  for (char& c : lower) c = static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
  if (lower == "localhost") return true;
  unsigned char v4[4];
  if (inet_pton(AF_INET, host.c_str(), v4) == 1) return v4[0] == 127;
  unsigned char v6[16];
  if (inet_pton(AF_INET6, host.c_str(), v6) == 1) {
    static const unsigned char kLoopback[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
    static const unsigned char kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (std::memcmp(v6, kLoopback, 16) == 0) return true;
    return std::memcmp(v6, kMapped, 12) == 0 && v6[12] == 127;
  }
  return false;
}

}  // namespace

Status check_url(const std::string& url, const std::string& name, const EnvReader& env) {
  if (url.find_first_of(" \n\t\r\v\f") != std::string::npos) return refuse(name, "the URL holds white space");
  char* error = nullptr;
  std::unique_ptr<PQconninfoOption, decltype(&PQconninfoFree)> options(PQconninfoParse(url.c_str(), &error),
                                                                       &PQconninfoFree);
  if (!options) {
    std::string reason = parse_reason(error);
    PQfreemem(error);
    return refuse(name, "not a PostgreSQL URL libpq accepts (" + reason + ")");
  }
  std::map<std::string, std::string> given;
  for (PQconninfoOption* o = options.get(); o->keyword != nullptr; ++o) {
    if (o->val != nullptr) given[o->keyword] = o->val;
  }
  for (const char* secret : {"password", "sslpassword"}) {
    if (given.count(secret)) {
      return refuse(
          name, std::string("the URL holds a ") + secret + "; put it in VMAIL_DB_PASSWORD_FILE or PGPASSFILE instead");
    }
  }
  auto setting = [&](const char* key, const char* variable) -> std::string {
    if (auto it = given.find(key); it != given.end()) return it->second;
    return env(variable).value_or("");
  };
  std::string sslmode = setting("sslmode", "PGSSLMODE");
  if (sslmode == "verify-full" || sslmode == "verify-ca") return Status::Ok();
  std::vector<std::string> hosts = split_list(setting("host", "PGHOST"));
  std::vector<std::string> addrs = split_list(setting("hostaddr", "PGHOSTADDR"));
  for (size_t i = 0; i < std::max(hosts.size(), addrs.size()); ++i) {
    // libpq connects to hostaddr when one is given (host then only names the
    // server for its certificate and the password file).
    bool by_addr = i < addrs.size() && !addrs[i].empty();
    const std::string& target = by_addr ? addrs[i] : (i < hosts.size() ? hosts[i] : addrs[i]);
    if (stays_on_machine(target)) continue;
    return refuse(name, std::string(by_addr ? "hostaddr " : "host ") + target +
                            " is not a local socket or loopback address, so the connection needs sslmode=verify-full "
                            "(or verify-ca) and sslrootcert: without it the password and every row cross the "
                            "network unencrypted or to an unverified server" +
                            (sslmode.empty() ? "" : " (sslmode is " + sslmode + ")"));
  }
  return Status::Ok();
}

}  // namespace vmail::pg
