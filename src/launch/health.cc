#include "launch/health.h"

#include <netdb.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <strings.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <memory>
#include <sstream>
#include <thread>

#include "core/accounts.h"
#include "core/audit.h"
#include "core/files.h"
#include "exporters/exported_files.h"
#include "launch/key_safety.h"
#include "pg/follow.h"

namespace vmail {
namespace {

using Clock = std::chrono::steady_clock;

enum class Protocol { kSmtp, kImap, kPop3, kManageSieve, kPolicy, kDns, kSocketmap, kRedis, kMilter, kHttpPing, kHttp };

struct Plan {
  Protocol protocol;
  bool implicit_tls;
};

Plan plan_for(const std::string& service) {
  if (service == "smtps") return {Protocol::kSmtp, true};
  if (service == "imap") return {Protocol::kImap, false};
  if (service == "imaps") return {Protocol::kImap, true};
  if (service == "pop3") return {Protocol::kPop3, false};
  if (service == "pop3s") return {Protocol::kPop3, true};
  if (service == "managesieve") return {Protocol::kManageSieve, false};
  if (service == "quota-status" || service == "postgrey" || service == "send-policy") return {Protocol::kPolicy, false};
  if (service == "policy") return {Protocol::kHttp, false};
  if (service == "redis") return {Protocol::kRedis, false};
  if (service == "rspamd-milter") return {Protocol::kMilter, false};
  if (service == "rspamd-controller") return {Protocol::kHttpPing, false};
  if (service == "resolver") return {Protocol::kDns, false};
  if (service == "mta-sts") return {Protocol::kSocketmap, false};
  return {Protocol::kSmtp, false};  // smtp, submission: STARTTLS
}

std::string ssl_error_text() {
  unsigned long e = ERR_get_error();
  ERR_clear_error();
  if (e == 0) return "connection closed";
  char buf[256];
  ERR_error_string_n(e, buf, sizeof buf);
  return buf;
}

// One client connection with a deadline, plain or TLS, non-blocking underneath.
class Connection {
 public:
  explicit Connection(Clock::time_point deadline) : deadline_(deadline) {}
  ~Connection() {
    if (ssl_ != nullptr) SSL_free(ssl_);
    if (fd_ >= 0) ::close(fd_);
  }
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  std::string connect(const std::string& host, uint16_t port) {
    addrinfo hints{};
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV;
    addrinfo* res = nullptr;
    int rc = getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &res);
    if (rc != 0) return std::string("resolve ") + host + ": " + gai_strerror(rc);
    std::unique_ptr<addrinfo, void (*)(addrinfo*)> guard(res, freeaddrinfo);
    fd_ = ::socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd_ < 0) return std::string("socket: ") + std::strerror(errno);
    if (::connect(fd_, res->ai_addr, res->ai_addrlen) != 0) {
      if (errno != EINPROGRESS) return std::string("connect: ") + std::strerror(errno);
      if (!wait(POLLOUT)) return "connect: timed out";
      int err = 0;
      socklen_t len = sizeof err;
      getsockopt(fd_, SOL_SOCKET, SO_ERROR, &err, &len);
      if (err != 0) return std::string("connect: ") + std::strerror(err);
    }
    return "";
  }

  std::string connect_unix(const std::string& path) {
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    if (path.size() >= sizeof a.sun_path) return "socket path too long: " + path;
    std::memcpy(a.sun_path, path.c_str(), path.size() + 1);
    fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd_ < 0) return std::string("socket: ") + std::strerror(errno);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
      if (errno != EINPROGRESS && errno != EAGAIN) return "connect " + path + ": " + std::strerror(errno);
      if (!wait(POLLOUT)) return "connect: timed out";
    }
    return "";
  }

  // Exactly `n` bytes (plain connections only); sets *error on failure.
  std::string read_bytes(size_t n, std::string* error) {
    while (buffer_.size() < n) {
      if (!receive_plain(error)) return "";
    }
    std::string out = buffer_.substr(0, n);
    buffer_.erase(0, n);
    return out;
  }

  std::string start_tls(SSL_CTX* ctx) {
    ssl_ = SSL_new(ctx);
    if (ssl_ == nullptr) return "TLS: " + ssl_error_text();
    SSL_set_fd(ssl_, fd_);
    while (true) {
      int rc = SSL_connect(ssl_);
      if (rc == 1) return "";
      int err = SSL_get_error(ssl_, rc);
      if (err == SSL_ERROR_WANT_READ && wait(POLLIN)) continue;
      if (err == SSL_ERROR_WANT_WRITE && wait(POLLOUT)) continue;
      if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) return "TLS handshake: timed out";
      return "TLS handshake: " + ssl_error_text();
    }
  }

  std::string send(const std::string& data) {
    size_t done = 0;
    while (done < data.size()) {
      if (ssl_ != nullptr) {
        int n = SSL_write(ssl_, data.data() + done, static_cast<int>(data.size() - done));
        if (n > 0) {
          done += static_cast<size_t>(n);
          continue;
        }
        int err = SSL_get_error(ssl_, n);
        if ((err == SSL_ERROR_WANT_WRITE && wait(POLLOUT)) || (err == SSL_ERROR_WANT_READ && wait(POLLIN))) continue;
        return "write: " + ssl_error_text();
      }
      ssize_t n = ::send(fd_, data.data() + done, data.size() - done, MSG_NOSIGNAL);
      if (n > 0) {
        done += static_cast<size_t>(n);
        continue;
      }
      if (n < 0 && (errno == EAGAIN || errno == EINTR) && wait(POLLOUT)) continue;
      return n < 0 && errno != EAGAIN ? std::string("write: ") + std::strerror(errno) : "write: timed out";
    }
    return "";
  }

  // One line without CRLF; sets *error on failure.
  std::string read_line(std::string* error) {
    while (true) {
      if (auto pos = buffer_.find('\n'); pos != std::string::npos) {
        std::string line = buffer_.substr(0, pos);
        buffer_.erase(0, pos + 1);
        if (!line.empty() && line.back() == '\r') line.pop_back();
        return line;
      }
      if (buffer_.size() > 65536) {
        *error = "reply line too long";
        return "";
      }
      char buf[4096];
      if (ssl_ != nullptr) {
        int n = SSL_read(ssl_, buf, sizeof buf);
        if (n > 0) {
          buffer_.append(buf, static_cast<size_t>(n));
          continue;
        }
        int err = SSL_get_error(ssl_, n);
        if ((err == SSL_ERROR_WANT_READ && wait(POLLIN)) || (err == SSL_ERROR_WANT_WRITE && wait(POLLOUT))) continue;
        *error = err == SSL_ERROR_WANT_READ ? "timed out waiting for the server" : "read: " + ssl_error_text();
        return "";
      }
      if (!receive_plain(error)) return "";
    }
  }

  void close_tls() {
    if (ssl_ != nullptr) SSL_shutdown(ssl_);
  }

 private:
  // Appends what a plain connection has (waiting up to the deadline) to
  // buffer_; false with *error set when closed, failed or timed out.
  bool receive_plain(std::string* error) {
    char buf[4096];
    while (true) {
      ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
      if (n > 0) {
        buffer_.append(buf, static_cast<size_t>(n));
        return true;
      }
      if (n == 0) {
        *error = "connection closed by the server";
        return false;
      }
      if ((errno == EAGAIN || errno == EINTR) && wait(POLLIN)) continue;
      *error = errno == EAGAIN ? "timed out waiting for the server" : std::string("read: ") + std::strerror(errno);
      return false;
    }
  }

  bool wait(short events) {
    while (true) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline_ - Clock::now()).count();
      if (left <= 0) return false;
      pollfd p{fd_, events, 0};
      int rc = ::poll(&p, 1, static_cast<int>(left));
      if (rc > 0) return true;
      if (rc == 0) return false;
      if (errno != EINTR) return false;
    }
  }

  Clock::time_point deadline_;
  int fd_ = -1;
  SSL* ssl_ = nullptr;
  std::string buffer_;
};

// SMTP reply: lines until one whose fourth character is a space; returns the
// last line, or "" with *error set.
std::string smtp_reply(Connection& c, const std::string& step, const std::string& code, std::string* error) {
  while (true) {
    std::string line = c.read_line(error);
    if (!error->empty()) {
      *error = step + ": " + *error;
      return "";
    }
    if (line.size() >= 4 && line[3] == '-') continue;
    if (line.compare(0, 3, code) != 0) *error = step + ": unexpected reply " + quote(line);
    return line;
  }
}

std::string check_smtp(Connection& c, bool implicit_tls, SSL_CTX* ctx) {
  std::string err;
  if (implicit_tls) {
    if (err = c.start_tls(ctx); !err.empty()) return err;
  }
  smtp_reply(c, "greeting", "220", &err);
  if (!err.empty()) return err;
  if (err = c.send("EHLO vmail-health\r\n"); !err.empty()) return err;
  smtp_reply(c, "EHLO", "250", &err);
  if (!err.empty()) return err;
  if (!implicit_tls) {
    if (err = c.send("STARTTLS\r\n"); !err.empty()) return err;
    smtp_reply(c, "STARTTLS", "220", &err);
    if (!err.empty()) return err;
    if (err = c.start_tls(ctx); !err.empty()) return err;
    if (err = c.send("EHLO vmail-health\r\n"); !err.empty()) return err;
    smtp_reply(c, "EHLO after STARTTLS", "250", &err);
    if (!err.empty()) return err;
  }
  if (err = c.send("QUIT\r\n"); !err.empty()) return err;
  smtp_reply(c, "QUIT", "221", &err);
  return err;
}

// IMAP: lines until the tagged reply; it must be OK.
std::string imap_tagged(Connection& c, const std::string& tag, std::string* error) {
  while (true) {
    std::string line = c.read_line(error);
    if (!error->empty()) return "";
    if (line.rfind(tag + " ", 0) == 0) {
      if (line.compare(tag.size() + 1, 2, "OK") != 0) *error = "unexpected reply " + quote(line);
      return line;
    }
  }
}

std::string check_imap(Connection& c, bool implicit_tls, SSL_CTX* ctx) {
  std::string err;
  if (implicit_tls) {
    if (err = c.start_tls(ctx); !err.empty()) return err;
  }
  std::string greeting = c.read_line(&err);
  if (!err.empty()) return "greeting: " + err;
  if (greeting.rfind("* OK", 0) != 0) return "greeting: unexpected " + quote(greeting);
  if (!implicit_tls) {
    if (err = c.send("h1 STARTTLS\r\n"); !err.empty()) return err;
    imap_tagged(c, "h1", &err);
    if (!err.empty()) return "STARTTLS: " + err;
    if (err = c.start_tls(ctx); !err.empty()) return err;
  }
  if (err = c.send("h2 LOGOUT\r\n"); !err.empty()) return err;
  imap_tagged(c, "h2", &err);
  return err.empty() ? "" : "LOGOUT: " + err;
}

std::string pop3_ok(Connection& c, const std::string& step) {
  std::string err;
  std::string line = c.read_line(&err);
  if (!err.empty()) return step + ": " + err;
  if (line.rfind("+OK", 0) != 0) return step + ": unexpected reply " + quote(line);
  return "";
}

std::string check_pop3(Connection& c, bool implicit_tls, SSL_CTX* ctx) {
  std::string err;
  if (implicit_tls) {
    if (err = c.start_tls(ctx); !err.empty()) return err;
  }
  if (err = pop3_ok(c, "greeting"); !err.empty()) return err;
  if (!implicit_tls) {
    if (err = c.send("STLS\r\n"); !err.empty()) return err;
    if (err = pop3_ok(c, "STLS"); !err.empty()) return err;
    if (err = c.start_tls(ctx); !err.empty()) return err;
  }
  if (err = c.send("QUIT\r\n"); !err.empty()) return err;
  return pop3_ok(c, "QUIT");
}

// ManageSieve (RFC 5804): capability lines until one starting with OK, as
// the greeting and again after STARTTLS.
std::string sieve_ok(Connection& c, const std::string& step) {
  std::string err;
  while (true) {
    std::string line = c.read_line(&err);
    if (!err.empty()) return step + ": " + err;
    if (line.rfind("OK", 0) == 0) return "";
    if (line.rfind("NO", 0) == 0 || line.rfind("BYE", 0) == 0) return step + ": unexpected reply " + quote(line);
  }
}

std::string check_managesieve(Connection& c, SSL_CTX* ctx) {
  std::string err;
  if (err = sieve_ok(c, "greeting"); !err.empty()) return err;
  if (err = c.send("STARTTLS\r\n"); !err.empty()) return err;
  if (err = sieve_ok(c, "STARTTLS"); !err.empty()) return err;
  if (err = c.start_tls(ctx); !err.empty()) return err;
  if (err = sieve_ok(c, "capabilities after STARTTLS"); !err.empty()) return err;
  if (err = c.send("LOGOUT\r\n"); !err.empty()) return err;
  return sieve_ok(c, "LOGOUT");
}

// Postfix's policy protocol: one request, an `action=` line and an empty
// line back. The recipient is no mailbox, so quota-status answers DUNNO
// without touching any mailbox.
std::string check_policy(Connection& c) {
  std::string err;
  if (err = c.send("request=smtpd_access_policy\nprotocol_state=RCPT\nprotocol_name=ESMTP\n"
                   "sender=health@vmail.invalid\nrecipient=health@vmail.invalid\nsize=0\n\n");
      !err.empty()) {
    return err;
  }
  std::string line = c.read_line(&err);
  if (!err.empty()) return "policy reply: " + err;
  if (line.rfind("action=", 0) != 0) return "policy reply: unexpected " + quote(line);
  return "";
}

// DNS over TCP (RFC 1035 4.2.2: a 16-bit length, then the message): one
// query for localhost/A, which unbound answers from its own local zone
// without asking anyone; the reply must carry the query's id and no error.
std::string check_dns(Connection& c) {
  const std::string query = std::string("\x56\x4d\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00", 12) +
                            std::string("\x09localhost\x00\x00\x01\x00\x01", 15);
  std::string err = c.send(std::string{'\0', static_cast<char>(query.size())} + query);
  if (!err.empty()) return err;
  std::string length = c.read_bytes(2, &err);
  if (!err.empty()) return "DNS reply: " + err;
  size_t n = (static_cast<unsigned char>(length[0]) << 8) | static_cast<unsigned char>(length[1]);
  if (n < 12) return "DNS reply: too short";
  std::string reply = c.read_bytes(n, &err);
  if (!err.empty()) return "DNS reply: " + err;
  if (reply.compare(0, 2, "\x56\x4d") != 0) return "DNS reply: another query's id";
  if (int rcode = reply[3] & 0x0f; rcode != 0) return "DNS reply: rcode " + std::to_string(rcode);
  return "";
}

// Postfix's socketmap protocol (netstrings, "name key"), as Postfix asks the
// MTA-STS daemon: a name without a dot needs no DNS and is answered
// NOTFOUND at once. Any netstring reply proves the daemon answers.
std::string check_socketmap(Connection& c) {
  std::string err = c.send("17:postfix localhost,");
  if (!err.empty()) return err;
  std::string reply = c.read_bytes(3, &err);
  if (!err.empty()) return "socketmap reply: " + err;
  if (reply.find(':') == std::string::npos || !std::isdigit(static_cast<unsigned char>(reply[0]))) {
    return "socketmap reply: not a netstring " + quote(reply);
  }
  return "";
}

// Redis: PING answered with +PONG (a loading or refusing server answers an
// error instead).
std::string check_redis(Connection& c) {
  std::string err = c.send("PING\r\n");
  if (!err.empty()) return err;
  std::string line = c.read_line(&err);
  if (!err.empty()) return "PING: " + err;
  if (line != "+PONG") return "PING: unexpected reply " + quote(line);
  return "";
}

// One HTTP GET of `path` answered 200 (the server's event loop answers, not
// only the kernel's listen queue) and, when `body` is given, a line of the
// reply starting with it: rspamd's controller (/ping: "pong"),
// vmail-policyd's auth policy port (/health).
std::string check_http_get(Connection& c, const std::string& path, const std::string& body) {
  std::string err = c.send("GET " + path + " HTTP/1.0\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
  if (!err.empty()) return err;
  std::string status = c.read_line(&err);
  if (!err.empty()) return "GET " + path + ": " + err;
  if (status.find(" 200") == std::string::npos) return "GET " + path + ": unexpected status " + quote(status);
  while (!body.empty()) {
    std::string line = c.read_line(&err);
    if (!err.empty()) return "GET " + path + ": " + err;
    if (line.rfind(body, 0) == 0) return "";
  }
  return "";
}

// The milter protocol's framing: a 32-bit big-endian length, the command
// character, its data.
std::string be32(uint32_t v) {
  return std::string{static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8),
                     static_cast<char>(v)};
}

std::string milter_packet(char command, const std::string& data) {
  return be32(static_cast<uint32_t>(data.size() + 1)) + command + data;
}

struct MilterReply {
  char command = 0;
  std::string data;
};

MilterReply read_milter_reply(Connection& c, std::string* error) {
  std::string header = c.read_bytes(4, error);
  if (!error->empty()) return {};
  uint32_t len = (static_cast<uint32_t>(static_cast<unsigned char>(header[0])) << 24) |
                 (static_cast<uint32_t>(static_cast<unsigned char>(header[1])) << 16) |
                 (static_cast<uint32_t>(static_cast<unsigned char>(header[2])) << 8) |
                 static_cast<uint32_t>(static_cast<unsigned char>(header[3]));
  if (len == 0 || len > (1u << 20)) {
    *error = "bad reply length " + std::to_string(len);
    return {};
  }
  std::string body = c.read_bytes(len, error);
  if (!error->empty()) return {};
  return {body[0], body.substr(1)};
}

// Sends one command and reads up to its answer (skipping progress
// reports); "" when the filter said continue, else what it said.
std::string milter_step(Connection& c, const std::string& step, char command, const std::string& data) {
  std::string err = c.send(milter_packet(command, data));
  if (!err.empty()) return step + ": " + err;
  while (true) {
    MilterReply r = read_milter_reply(c, &err);
    if (!err.empty()) return step + ": " + err;
    if (r.command == 'p') continue;
    if (r.command == 'c') return "";
    if (r.command == 't') return "temporary failure at " + step;
    if (r.command == 'r' || r.command == 'y') return "rejected at " + step;
    return step + ": unexpected reply command " + quote(std::string(1, r.command));
  }
}

// One test message From: vmail-health@`domain`, as Postfix passes mail from
// a login on submission; "" when OpenDKIM added a DKIM-Signature.
std::string sign_test_message(Connection& c, const std::string& domain) {
  const std::string address = "vmail-health@" + domain;
  std::string err = c.send(milter_packet('D', std::string("M") + "i" + '\0' + "HEALTH" + '\0' + "{auth_type}" + '\0' +
                                                  "PLAIN" + '\0' + "{auth_authen}" + '\0' + address + '\0'));
  if (!err.empty()) return err;
  if (err = milter_step(c, "MAIL FROM", 'M', "<" + address + ">" + '\0'); !err.empty()) return err;
  if (err = milter_step(c, "RCPT TO", 'R', "<" + address + ">" + '\0'); !err.empty()) return err;
  for (const auto& [name, value] : std::vector<std::pair<std::string, std::string>>{
           {"From", address}, {"To", address}, {"Subject", "vmail health: test signature"}}) {
    if (err = milter_step(c, "header " + name, 'L', name + '\0' + value + '\0'); !err.empty()) return err;
  }
  if (err = milter_step(c, "end of headers", 'N', ""); !err.empty()) return err;
  if (err = milter_step(c, "body", 'B', "test\r\n"); !err.empty()) return err;
  if (err = c.send(milter_packet('E', "")); !err.empty()) return err;
  bool signed_it = false;
  while (true) {
    MilterReply r = read_milter_reply(c, &err);
    if (!err.empty()) return "end of message: " + err;
    // 'h' add header (name NUL value NUL), 'i' insert header (index, then the same).
    std::string fields = r.command == 'i' && r.data.size() > 4 ? r.data.substr(4) : r.data;
    if ((r.command == 'h' || r.command == 'i') && strncasecmp(fields.c_str(), "DKIM-Signature", 15) == 0) {
      signed_it = true;
    }
    if (r.command == 'c' || r.command == 'a') return signed_it ? "" : "no DKIM-Signature added";
    if (r.command == 't') return "temporary failure at end of message";
    if (r.command == 'r' || r.command == 'y' || r.command == 'd') return "rejected at end of message";
  }
}

// KeyTable lines: "name domain:selector:path". The domains in order, each
// once, with their key files.
std::vector<std::pair<std::string, std::vector<std::string>>> signing_domains(const std::string& key_table) {
  std::vector<std::pair<std::string, std::vector<std::string>>> out;
  auto text = read_file(key_table);
  if (!text.ok() || !*text) return out;
  std::istringstream in(**text);
  std::string line;
  while (std::getline(in, line)) {
    auto space = line.find(' ');
    if (line.empty() || line[0] == '#' || space == std::string::npos) continue;
    std::string value = line.substr(space + 1);
    auto first = value.find(':');
    auto second = first == std::string::npos ? first : value.find(':', first + 1);
    if (second == std::string::npos) continue;
    std::string domain = value.substr(0, first);
    std::string path = value.substr(second + 1);
    auto it = std::find_if(out.begin(), out.end(), [&](const auto& d) { return d.first == domain; });
    if (it == out.end()) {
      out.push_back({domain, {path}});
    } else {
      it->second.push_back(path);
    }
  }
  return out;
}

// Why OpenDKIM cannot use one of these key files, as far as owners and
// modes tell; "" when they look fine.
std::string key_files_reason(const std::vector<std::string>& paths) {
  auto opendkim = user_by_name("opendkim");
  if (!opendkim) return "";
  KeyReader reader{opendkim->uid, opendkim->gid, "opendkim"};
  for (const auto& path : paths) {
    if (std::string why = key_unreadable_reason(path, reader); !why.empty()) return why;
    KeyChainCheck chain = check_key_chain(path, reader);
    if (chain.verdict == KeyChain::kUnsafe) return chain.reason + " (OpenDKIM's RequireSafeKeys refuses the key)";
  }
  return "";
}

// After the handshake: a test signature per signing domain, on the same
// connection. Stops at the first refusal.
std::string check_signing(Connection& c, const std::string& key_table) {
  for (const auto& [domain, paths] : signing_domains(key_table)) {
    std::string err = sign_test_message(c, domain);
    if (err.empty()) continue;
    std::string why = key_files_reason(paths);
    return "a test signature as " + domain + " failed (" + err +
           "): " + (why.empty() ? "OpenDKIM's reason is in the launcher's log" : why);
  }
  return "";
}

// The milter protocol (as Postfix speaks it): an option negotiation
// (SMFIC_OPTNEG, version 6, every action and step offered) must be answered
// with one; then SMFIC_QUIT. Proves the filter itself answers, not just the
// kernel's listen queue.
//
// With a KeyTable (OpenDKIM) the negotiation offers no protocol options (so
// every command is answered) and the connection goes on to the test
// signatures (check_signing) before SMFIC_QUIT.
std::string check_milter(Connection& c, const std::string& key_table) {
  const bool sign = !key_table.empty();
  std::string err = c.send(milter_packet('O', be32(6) + be32(0x1FF) + be32(sign ? 0 : 0x1FFFFF)));
  if (!err.empty()) return err;
  MilterReply reply = read_milter_reply(c, &err);
  if (!err.empty()) return "option negotiation: " + err;
  if (reply.command != 'O')
    return "option negotiation: unexpected reply command " + quote(std::string(1, reply.command));
  if (sign) {
    std::string connect = std::string("vmail-health") + '\0' + "4" + std::string(2, '\0') + "127.0.0.1" + '\0';
    err = c.send(milter_packet(
        'D', std::string("C") + "{daemon_name}" + '\0' + "ORIGINATING" + '\0' + "j" + '\0' + "vmail-health" + '\0'));
    if (err.empty()) err = milter_step(c, "connect", 'C', connect);
    if (err.empty()) err = milter_step(c, "HELO", 'H', std::string("vmail-health") + '\0');
    if (err.empty()) err = check_signing(c, key_table);
  }
  c.send(milter_packet('Q', ""));
  return err;
}

ServiceHealth check_one(const std::string& host, const std::string& name, bool loopback, uint16_t port,
                        std::chrono::milliseconds timeout, SSL_CTX* ctx) {
  ServiceHealth h;
  h.name = name;
  h.port = port;
  Clock::time_point start = Clock::now();
  Connection c(start + timeout);
  // quota-status, the resolver, the MTA-STS daemon listen on loopback only,
  // whatever VMAIL_LISTEN says.
  std::string err = c.connect(loopback ? "127.0.0.1" : host, port);
  if (err.empty()) {
    Plan plan = plan_for(name);
    switch (plan.protocol) {
      case Protocol::kSmtp: err = check_smtp(c, plan.implicit_tls, ctx); break;
      case Protocol::kImap: err = check_imap(c, plan.implicit_tls, ctx); break;
      case Protocol::kPop3: err = check_pop3(c, plan.implicit_tls, ctx); break;
      case Protocol::kManageSieve: err = check_managesieve(c, ctx); break;
      case Protocol::kPolicy: err = check_policy(c); break;
      case Protocol::kDns: err = check_dns(c); break;
      case Protocol::kSocketmap: err = check_socketmap(c); break;
      case Protocol::kRedis: err = check_redis(c); break;
      case Protocol::kMilter: err = check_milter(c, ""); break;
      case Protocol::kHttpPing: err = check_http_get(c, "/ping", "pong"); break;
      case Protocol::kHttp: err = check_http_get(c, "/health", ""); break;
    }
    if (err.empty()) c.close_tls();
  }
  h.ms = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start).count();
  h.healthy = err.empty();
  h.error = err;
  return h;
}

ServiceHealth check_milter_socket(const MilterSocket& milter, std::chrono::milliseconds timeout) {
  const std::string& path = milter.path;
  ServiceHealth h;
  h.name = milter.name;
  h.socket = path;
  Clock::time_point start = Clock::now();
  Connection c(start + timeout);
  std::string err = c.connect_unix(path);
  if (err.empty()) err = check_milter(c, milter.key_table);
  h.ms = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start).count();
  h.healthy = err.empty();
  h.error = err;
  return h;
}

}  // namespace

ServiceHealth check_follower(const std::string& status_file, std::time_t now, int max_age_seconds) {
  ServiceHealth h;
  h.name = "follower";
  h.file = status_file;
  auto text = read_file_limited(status_file, 64 * 1024);  // a few lines of JSON
  if (!text.ok() || !*text) {
    h.error = "no status file " + status_file + " (the follower has not started)";
    return h;
  }
  auto status = pg::parse_follower_status(**text);
  if (!status.ok()) {
    h.error = status_file + ": " + status.status().message();
    return h;
  }
  std::time_t age = now - status->updated;
  if (age > max_age_seconds) {
    h.error = "status not updated for " + std::to_string(age) + " s (is the follower running?)";
  } else if (!status->upstream_ok) {
    h.error = "shared store unreachable since " + format_utc(status->since) +
              (status->error.empty() ? "" : " (" + status->error + ")") + "; serving the replica at change " +
              std::to_string(status->seq);
  } else if (!status->error.empty()) {
    h.error = status->error;
  }
  h.healthy = h.error.empty();
  return h;
}

std::vector<MilterSocket> milter_sockets(const Settings& settings) {
  return {
      {"opendkim", opendkim_socket(settings), export_path(*find_exported_file(exported_files(), "KeyTable"), settings)},
      {"vmail-milter", vmail_milter_socket(settings), ""}};
}

std::vector<ServiceHealth> check_health(const std::string& host, const Endpoints& endpoints,
                                        const std::vector<MilterSocket>& milters, std::chrono::milliseconds timeout) {
  std::unique_ptr<SSL_CTX, void (*)(SSL_CTX*)> ctx(SSL_CTX_new(TLS_client_method()), SSL_CTX_free);
  // The services that run (an off one has port 0).
  std::vector<size_t> on;
  for (size_t i = 0; i < kServices.size(); ++i) {
    if (endpoints.ports[i] != 0) on.push_back(i);
  }
  std::vector<ServiceHealth> results(on.size());
  if (!ctx) {
    for (size_t k = 0; k < on.size(); ++k) {
      results[k] =
          ServiceHealth{kServices[on[k]].name, endpoints.ports[on[k]], "", "", false, 0, "TLS: " + ssl_error_text()};
    }
    return results;
  }
  SSL_CTX_set_min_proto_version(ctx.get(), TLS1_2_VERSION);
  // Self-signed certificates are normal here: the handshake must complete,
  // the certificate is not verified.
  SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_NONE, nullptr);
  std::vector<std::thread> threads;
  for (size_t k = 0; k < on.size(); ++k) {
    threads.emplace_back([&, k] {
      const ServiceSpec& spec = kServices[on[k]];
      results[k] = check_one(host, spec.name, spec.loopback, endpoints.ports[on[k]], timeout, ctx.get());
    });
  }
  results.resize(on.size() + milters.size());
  for (size_t i = 0; i < milters.size(); ++i) {
    threads.emplace_back([&, i] { results[on.size() + i] = check_milter_socket(milters[i], timeout); });
  }
  for (auto& t : threads) t.join();
  return results;
}

}  // namespace vmail
