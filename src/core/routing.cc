#include "core/routing.h"

#include <algorithm>
#include <memory>
#include <unordered_map>
#include <utility>

namespace vmail {
namespace {

enum class Mark { kOnPath, kDone };

// One step of the walk: an address and how many of its hops were followed.
struct Frame {
  std::string address;
  std::vector<std::string> hops;
  size_t next = 0;
};

// The cycle closed by reaching `again` while it is on `path`.
std::vector<std::string> cycle_from(const std::vector<Frame>& path, const std::string& again) {
  std::vector<std::string> cycle;
  bool in = false;
  for (const Frame& f : path) {
    in = in || f.address == again;
    if (in) cycle.push_back(f.address);
  }
  cycle.push_back(again);
  return cycle;
}

// Reads the graph's edges with statements prepared once per check.
class StoredHops {
 public:
  explicit StoredHops(SQLite::Database& db)
      : mailbox_(db, "SELECT 1 FROM users WHERE address = ?"),
        alias_(db,
               "SELECT ad.destination FROM aliases a JOIN alias_destinations ad ON ad.alias_id = a.id "
               "WHERE a.source = ? ORDER BY ad.position, ad.destination") {}

  std::vector<std::string> operator()(const std::string& address) {
    if (exists(mailbox_, address)) return {};
    std::vector<std::string> hops = destinations(address);
    size_t at = address.find('@');
    if (!hops.empty() || at == 0 || at == std::string::npos) return hops;
    // An unknown address goes to its domain's catch-all. Postfix takes a
    // result equal to the address it expanded as final (no loop there).
    hops = destinations(address.substr(at));
    std::erase(hops, address);
    return hops;
  }

 private:
  static bool exists(SQLite::Statement& q, const std::string& key) {
    q.reset();
    q.bind(1, key);
    return q.executeStep();
  }
  std::vector<std::string> destinations(const std::string& source) {
    alias_.reset();
    alias_.bind(1, source);
    std::vector<std::string> out;
    while (alias_.executeStep()) out.push_back(alias_.getColumn(0).getString());
    return out;
  }

  SQLite::Statement mailbox_;
  SQLite::Statement alias_;
};

}  // namespace

std::vector<std::string> find_cycle(const std::vector<std::string>& starts, const NextHops& next) {
  std::unordered_map<std::string, Mark> marks;
  for (const std::string& start : starts) {
    if (marks.count(start) != 0) continue;
    std::vector<Frame> path;
    marks[start] = Mark::kOnPath;
    path.push_back(Frame{start, next(start)});
    while (!path.empty()) {
      Frame& top = path.back();
      if (top.next == top.hops.size()) {
        marks[top.address] = Mark::kDone;
        path.pop_back();
        continue;
      }
      std::string hop = top.hops[top.next++];
      auto it = marks.find(hop);
      if (it != marks.end()) {
        if (it->second == Mark::kOnPath) return cycle_from(path, hop);
        continue;
      }
      marks.emplace(hop, Mark::kOnPath);
      std::vector<std::string> hops = next(hop);
      path.push_back(Frame{std::move(hop), std::move(hops)});
    }
  }
  return {};
}

NextHops stored_hops(SQLite::Database& db) {
  auto hops = std::make_shared<StoredHops>(db);
  return [hops](const std::string& address) { return (*hops)(address); };
}

Status loop_status(const std::vector<std::string>& cycle, std::string_view field) {
  if (cycle.empty()) return Status::Ok();
  std::string chain;
  for (const std::string& a : cycle) chain += (chain.empty() ? "" : " -> ") + a;
  return Status(Code::kBadInput, std::string(field) + ": " + chain + " would loop");
}

Status check_no_loop(SQLite::Database& db, const std::vector<std::string>& starts, std::string_view field) {
  return loop_status(find_cycle(starts, stored_hops(db)), field);
}

}  // namespace vmail
