#include "pg/follow.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <thread>

#include "core/audit.h"
#include "core/files.h"
#include "pg/connection.h"
#include "pg/dkim_share.h"
#include "pg/replica.h"
#include "pg/schema.h"

namespace vmail::pg {
namespace {

constexpr std::chrono::milliseconds kWait{1000};

// The first line of a message (status files and logs hold one line).
std::string one_line(const std::string& text) { return text.substr(0, text.find('\n')); }

// The loop's state between iterations; logs each change of state once.
class Follower {
 public:
  Follower(Settings settings, Database& replica, const Exporter& exporter)
      : settings_(std::move(settings)),
        replica_(replica),
        exporter_(exporter),
        key_files_(dkim_key_files(settings_, process_env())) {}

  void iterate(const std::function<bool()>& stop) {
    if (!conn_) connect();
    if (conn_) catch_up();
    export_if_behind();
    write_status();
    wait(stop);
  }

 private:
  void connect() {
    auto conn = Connection::open(settings_);
    Status st = conn.ok() ? Status::Ok() : conn.status();
    if (st.ok()) st = migrate(**conn);
    if (st.ok()) st = (*conn)->listen(kChannel);
    if (!st.ok()) return lost(st);
    conn_ = std::move(*conn);
  }

  void catch_up() {
    auto caught = pg::catch_up(*conn_, replica_);
    if (!caught.ok()) return lost(caught.status());
    if (caught->full_resync) spdlog::info("replica copied whole from the shared store at seq {}", caught->seq);
    // DKIM private keys this node has no file of yet (made on another node):
    // a key's copy commits with its row, so only a change can bring one.
    if (caught->applied > 0 || caught->full_resync || !keys_fetched_) {
      auto keys = fetch_dkim_keys(*conn_, replica_, key_files_);
      if (!keys.ok()) return lost(keys.status());
      if (keys->written > 0) spdlog::info("wrote {} DKIM private key files from the shared store", keys->written);
      keys_fetched_ = true;
    }
    status_.seq = caught->seq;
    reachable();
  }

  void export_if_behind() {
    auto seq = replica_seq(replica_);
    if (!seq.ok()) return fail(seq.status().message());
    status_.seq = *seq;
    if (exported_ && *exported_ == *seq) return;
    Status st = exporter_(replica_, settings_);
    if (!st.ok()) return fail("export failed: " + st.message());
    spdlog::debug("exported the replica at seq {}", *seq);
    exported_ = *seq;
    if (upstream_known_ && status_.upstream_ok) clear_error();
  }

  void write_status() {
    status_.updated = std::time(nullptr);
    FileOptions options;
    options.mode = 0644;
    options.durable = false;  // rewritten every second: no disk flush each time
    Status st = write_file_atomic(follower_status_path(settings_), follower_status_json(status_), options);
    if (!st.ok() && st.message() != status_write_error_) spdlog::warn("{}", st.message());
    status_write_error_ = st.ok() ? "" : st.message();
  }

  void wait(const std::function<bool()>& stop) {
    if (conn_) {
      auto got = conn_->wait_for_notification(kWait);
      if (!got.ok()) lost(got.status());
      return;
    }
    // Down: retry in a second, looking at `stop` meanwhile.
    for (int i = 0; i < 10 && !stop(); ++i) std::this_thread::sleep_for(kWait / 10);
  }

  // The shared store cannot be used (down, or it refused us): reconnect
  // next time. Logged when the state changes, or the reason does.
  void lost(const Status& st) {
    conn_.reset();
    std::string line = one_line(st.message());
    if (!upstream_known_ || status_.upstream_ok) {
      spdlog::warn("{}; serving the replica at seq {}, retrying every second", line, status_.seq);
      set_upstream(false);
    } else if (line != status_.error) {
      spdlog::warn("{}", line);
    }
    status_.error = line;
  }

  void reachable() {
    if (!upstream_known_ || !status_.upstream_ok) {
      spdlog::info("shared store reachable; replica at seq {}", status_.seq);
      set_upstream(true);
      clear_error();
    }
  }

  void set_upstream(bool ok) {
    upstream_known_ = true;
    status_.upstream_ok = ok;
    status_.since = std::time(nullptr);
  }

  void fail(const std::string& message) {
    std::string line = one_line(message);
    if (line != status_.error) spdlog::error("{}", line);
    status_.error = line;
  }

  void clear_error() { status_.error.clear(); }

  Settings settings_;
  Database& replica_;
  const Exporter& exporter_;
  const DkimKeyFiles key_files_;
  bool keys_fetched_ = false;
  std::unique_ptr<Connection> conn_;
  std::optional<int64_t> exported_;
  FollowerStatus status_;
  bool upstream_known_ = false;
  std::string status_write_error_;
};

}  // namespace

std::string follower_status_path(const Settings& settings) { return settings.state_dir + "/follower.json"; }

std::optional<std::time_t> parse_utc_time(const std::string& text) {
  std::tm tm{};
  const char* end = strptime(text.c_str(), "%Y-%m-%dT%H:%M:%SZ", &tm);
  if (end == nullptr || *end != '\0' || text.size() != 20) return std::nullopt;
  return timegm(&tm);
}

std::string follower_status_json(const FollowerStatus& s) {
  nlohmann::ordered_json j = {{"seq", s.seq},
                              {"upstream", s.upstream_ok ? "ok" : "unreachable"},
                              {"since", format_utc(s.since)},
                              {"updated", format_utc(s.updated)}};
  if (!s.error.empty()) j["error"] = s.error;
  return j.dump() + "\n";
}

Result<FollowerStatus> parse_follower_status(const std::string& text) {
  auto j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return Status(Code::kBadInput, "follower status: not a JSON object");
  FollowerStatus s;
  if (!j.contains("seq") || !j["seq"].is_number_integer()) return Status(Code::kBadInput, "follower status: seq");
  s.seq = j["seq"].get<int64_t>();
  if (!j.contains("upstream") || !j["upstream"].is_string() ||
      (j["upstream"] != "ok" && j["upstream"] != "unreachable")) {
    return Status(Code::kBadInput, "follower status: upstream");
  }
  s.upstream_ok = j["upstream"] == "ok";
  for (const auto& [name, field] : {std::pair{"since", &s.since}, std::pair{"updated", &s.updated}}) {
    auto t = j.contains(name) && j[name].is_string() ? parse_utc_time(j[name].get<std::string>()) : std::nullopt;
    if (!t) return Status(Code::kBadInput, std::string("follower status: ") + name);
    *field = *t;
  }
  if (j.contains("error")) {
    if (!j["error"].is_string()) return Status(Code::kBadInput, "follower status: error");
    s.error = j["error"].get<std::string>();
  }
  return s;
}

Result<std::map<std::string, std::string>> parse_settings_file(const std::string& path, const std::string& text,
                                                               const std::vector<std::string>& allowed) {
  std::map<std::string, std::string> out;
  std::istringstream in(text);
  std::string line;
  for (int number = 1; std::getline(in, line); ++number) {
    auto where = [&] { return path + ":" + std::to_string(number) + ": "; };
    if (line.empty() || line[0] == '#') continue;
    auto eq = line.find('=');
    if (eq == std::string::npos) return Status(Code::kConfig, where() + "not KEY=VALUE");
    std::string key = line.substr(0, eq);
    if (std::find(allowed.begin(), allowed.end(), key) == allowed.end()) {
      return Status(Code::kConfig, where() + "unknown setting " + quote(key));
    }
    if (!out.emplace(key, line.substr(eq + 1)).second) {
      return Status(Code::kConfig, where() + key + " given twice");
    }
  }
  return out;
}

Status follow(Settings settings, const Exporter& exporter, const std::function<bool()>& stop) {
  auto replica = Database::open_migrated(settings.db);
  if (!replica.ok()) return replica.status();
  auto recorded = (*replica)->recorded_settings();
  if (!recorded.ok()) return recorded.status();
  if (Status st = apply_recorded(settings, *recorded); !st.ok()) return st;
  Follower follower(std::move(settings), **replica, exporter);
  while (!stop()) follower.iterate(stop);
  return Status::Ok();
}

}  // namespace vmail::pg
