#include "policy/server.h"

#include <arpa/inet.h>
#include <httplib.h>
#include <netinet/in.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <mutex>
#include <thread>

#include "core/database.h"
#include "core/store.h"
#include "policy/send_policy.h"

namespace vmail {
namespace {

// Postfix keeps a policy connection open for many requests, one per smtpd
// process at most; beyond this many at once new ones are closed.
constexpr int kMaxSendConnections = 64;
constexpr int kPruneEvery = 1000;

int64_t now_seconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

// The state shared by both services: SQLite connections are used by one
// thread at a time, so every request holds the lock while it reads or
// writes (each is a few statements on a small file).
class Shared {
 public:
  Shared(std::unique_ptr<PolicyState> state, const PolicydOptions& options)
      : state_(std::move(state)), options_(options) {}

  HttpReply auth(const std::string& command, const std::string& body) {
    std::vector<std::string> log;
    HttpReply r;
    {
      std::lock_guard lock(mu_);
      r = handle_auth_policy(command, body, *state_, options_.auth, now_seconds(), &log);
      maybe_prune();
    }
    for (const auto& line : log) spdlog::warn("{}", line);
    return r;
  }

  std::string send(const PolicyRequest& request) {
    SendDecision d;
    {
      std::lock_guard lock(mu_);
      d = decide_send(
          request, *state_, [this](const std::string& login) { return own_limit(login); }, options_.send_limit,
          now_seconds());
      maybe_prune();
    }
    if (!d.log.empty()) spdlog::warn("{}", d.log);
    return policy_reply(d.action);
  }

 private:
  // The database is opened for each lookup: a PostgreSQL node's replica may
  // be replaced whole by its follower, and an open handle would keep reading
  // the old file.
  Result<std::optional<int64_t>> own_limit(const std::string& login) {
    auto db = Database::open_for_reading(options_.db);
    if (!db.ok()) return db.status();
    Store store(**db);
    auto user = store.get_user(login);
    if (!user.ok()) {
      if (user.status().code() == Code::kNotFound) return std::optional<int64_t>();
      return user.status();
    }
    return user->send_limit;
  }

  void maybe_prune() {
    if (++requests_ % kPruneEvery != 0) return;
    if (Status s = state_->prune(now_seconds(), options_.auth.rules.window); !s.ok()) {
      spdlog::warn("pruning {}: {}", PolicyState::kFileName, s.message());
    }
  }

  std::mutex mu_;
  std::unique_ptr<PolicyState> state_;
  const PolicydOptions& options_;
  uint64_t requests_ = 0;
};

int listen_loopback(uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(fd, 64) != 0) {
    int saved = errno;
    ::close(fd);
    errno = saved;
    return -1;
  }
  return fd;
}

bool send_all(int fd, const std::string& data) {
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::send(fd, data.data() + done, data.size() - done, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    done += static_cast<size_t>(n);
  }
  return true;
}

// One Postfix connection: requests until it closes (or sends junk).
void serve_send_connection(int fd, Shared& shared, std::atomic<int>& open) {
  timeval idle{300, 0};  // Postfix closes an idle policy connection after max_idle (100 s)
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &idle, sizeof idle);
  std::string buffer;
  char chunk[4096];
  while (true) {
    ssize_t n = ::recv(fd, chunk, sizeof chunk, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    buffer.append(chunk, static_cast<size_t>(n));
    bool failed = false;
    while (true) {
      auto request = take_policy_request(buffer);
      if (!request.ok()) {
        spdlog::warn("send policy connection closed: {}", request.status().message());
        failed = true;
        break;
      }
      if (!*request) break;
      if (!send_all(fd, shared.send(**request))) {
        failed = true;
        break;
      }
    }
    if (failed) break;
  }
  ::close(fd);
  --open;
}

void serve_send(int listener, Shared& shared) {
  std::atomic<int> open{0};
  while (true) {
    int fd = ::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED || errno == EMFILE || errno == ENFILE) continue;
      return;  // the listener was shut down: stopping
    }
    if (open.load() >= kMaxSendConnections) {
      ::close(fd);
      continue;
    }
    ++open;
    std::thread(serve_send_connection, fd, std::ref(shared), std::ref(open)).detach();
  }
}

void set_up_http(httplib::Server& server, Shared& shared) {
  // SO_REUSEADDR, as the launcher's port check binds with it: a restart
  // finds the port free while old connections sit in TIME_WAIT. Not
  // httplib's default SO_REUSEPORT, which would let another process of this
  // uid bind the same port and take some of the requests.
  server.set_socket_options([](int sock) {
    int one = 1;
    ::setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  });
  server.set_payload_max_length(kMaxAuthPolicyBody);
  server.set_read_timeout(5, 0);
  server.set_write_timeout(5, 0);
  server.Post("/", [&shared](const httplib::Request& req, httplib::Response& res) {
    HttpReply r = shared.auth(req.get_param_value("command"), req.body);
    res.status = r.code;
    res.set_content(r.body, "application/json");
  });
  // `vmail health`'s probe.
  server.Get("/health", [](const httplib::Request&, httplib::Response& res) {
    res.set_content("{\"status\":\"ok\"}", "application/json");
  });
}

}  // namespace

int run_policyd(const PolicydOptions& options) {
  auto state = PolicyState::open(options.state_dir);
  if (!state.ok()) {
    spdlog::error("{}", state.status().message());
    return static_cast<int>(Code::kConfig);
  }
  Shared shared(std::move(*state), options);

  httplib::Server http;
  set_up_http(http, shared);
  if (!http.bind_to_port("127.0.0.1", options.auth_port)) {
    spdlog::error("VMAIL_POLICY_PORT {}: cannot listen on 127.0.0.1", options.auth_port);
    return static_cast<int>(Code::kConfig);
  }
  int listener = listen_loopback(options.send_port);
  if (listener < 0) {
    spdlog::error("VMAIL_SEND_POLICY_PORT {}: cannot listen on 127.0.0.1: {}", options.send_port, std::strerror(errno));
    return static_cast<int>(Code::kConfig);
  }
  std::thread http_thread([&http] { http.listen_after_bind(); });
  std::thread send_thread([listener, &shared] { serve_send(listener, shared); });
  spdlog::info("login bans on 127.0.0.1:{} (HTTP), send limits on 127.0.0.1:{}", options.auth_port, options.send_port);

  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGTERM);
  sigaddset(&stop, SIGINT);
  int sig = 0;
  sigwait(&stop, &sig);
  spdlog::info("stopping on {}", sig == SIGTERM ? "SIGTERM" : "SIGINT");
  http.stop();
  ::shutdown(listener, SHUT_RDWR);
  http_thread.join();
  send_thread.join();
  ::close(listener);
  // Connections still open belong to Postfix processes; their threads hold
  // no lock between requests, and the process ends here.
  std::fflush(nullptr);
  ::_exit(0);
}

}  // namespace vmail
