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
      : mailbox_(db,
                 "SELECT u.id, f.user_id IS NOT NULL FROM users u LEFT JOIN forwards f ON f.user_id = u.id "
                 "WHERE u.address = ?"),
        forward_(db, "SELECT destination FROM forward_destinations WHERE user_id = ? ORDER BY position, destination"),
        alias_(db,
               "SELECT ad.destination FROM aliases a JOIN alias_destinations ad ON ad.alias_id = a.id "
               "WHERE a.source = ? ORDER BY ad.position, ad.destination"),
        alias_domain_(db,
                      "SELECT t.name FROM domains a JOIN alias_domains ad ON ad.domain_id = a.id "
                      "JOIN domains t ON t.id = ad.target_id WHERE a.name = ?") {}

  std::vector<std::string> operator()(const std::string& address) {
    mailbox_.reset();
    mailbox_.bind(1, address);
    if (mailbox_.executeStep()) {
      if (mailbox_.getColumn(1).getInt() == 0) return {};
      forward_.reset();
      forward_.bind(1, mailbox_.getColumn(0).getInt64());
      // With --keep the mailbox is among its own destinations: delivered, not followed.
      return without(column(forward_), address);
    }
    std::vector<std::string> hops = destinations(address);
    size_t at = address.find('@');
    if (!hops.empty() || at == 0 || at == std::string::npos) return hops;
    alias_domain_.reset();
    alias_domain_.bind(1, address.substr(at + 1));
    if (alias_domain_.executeStep()) return {address.substr(0, at + 1) + alias_domain_.getColumn(0).getString()};
    // An unknown address goes to its domain's catch-all. Postfix takes a
    // result equal to the address it expanded as final (no loop there).
    return without(destinations(address.substr(at)), address);
  }

 private:
  static std::vector<std::string> column(SQLite::Statement& q) {
    std::vector<std::string> out;
    while (q.executeStep()) out.push_back(q.getColumn(0).getString());
    return out;
  }
  static std::vector<std::string> without(std::vector<std::string> hops, const std::string& address) {
    std::erase(hops, address);
    return hops;
  }
  std::vector<std::string> destinations(const std::string& source) {
    alias_.reset();
    alias_.bind(1, source);
    return column(alias_);
  }

  SQLite::Statement mailbox_;
  SQLite::Statement forward_;
  SQLite::Statement alias_;
  SQLite::Statement alias_domain_;
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
