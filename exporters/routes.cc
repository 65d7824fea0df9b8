#include "exporters/routes.h"

#include <algorithm>

namespace vmail {
namespace {

Reach many() { return Reach{Reach::Kind::kMany, {}}; }

// Where mail for a list of destinations ends up, given where each one does.
Reach combine(const Reach& a, const Reach& b) {
  if (a.kind == Reach::Kind::kRefused) return b;
  if (b.kind == Reach::Kind::kRefused) return a;
  if (a.kind == Reach::Kind::kOne && b.kind == Reach::Kind::kOne && a.to == b.to) return a;
  return many();
}

std::string_view domain_of(std::string_view address) { return address.substr(address.find('@') + 1); }

}  // namespace

std::vector<std::string_view> split_destinations(std::string_view value) {
  std::vector<std::string_view> out;
  while (!value.empty()) {
    size_t comma = value.find(',');
    if (comma != 0) out.push_back(value.substr(0, comma));
    if (comma == std::string_view::npos) break;
    value.remove_prefix(comma + 1);
  }
  return out;
}

Routes::Routes(const CheckedRows& rows, const std::vector<MapLine>& lines) : rows_(rows), lines_(lines) {
  for (const MapLine& l : lines_) {
    if (!l.key.empty() && l.key.front() == '@') catch_alls_.emplace(l.key.substr(1), &l);
  }
}

const MapLine* Routes::line(std::string_view key) const {
  auto it = std::lower_bound(lines_.begin(), lines_.end(), key,
                             [](const MapLine& l, std::string_view k) { return l.key < k; });
  return it != lines_.end() && it->key == key ? &*it : nullptr;
}

const MapLine* Routes::catch_all(std::string_view domain) const {
  auto it = catch_alls_.find(domain);
  return it == catch_alls_.end() ? nullptr : it->second;
}

const CheckedUser* Routes::mailbox(std::string_view address) const {
  auto it = std::lower_bound(rows_.users.begin(), rows_.users.end(), address,
                             [](const CheckedUser& u, std::string_view a) { return u.user->address < a; });
  return it != rows_.users.end() && it->user->address == address ? &*it : nullptr;
}

Reach Routes::final_address(std::string_view address) const {
  if (std::binary_search(rows_.receive_off.begin(), rows_.receive_off.end(), address)) return Reach{};
  return Reach{Reach::Kind::kOne, address};
}

// One address on the walk: where it leads, how many of those were followed,
// and where the followed ones end up so far.
struct Routes::Frame {
  std::string_view address;
  std::vector<std::string_view> hops;
  size_t next = 0;
  Reach so_far;  // kRefused (nothing yet) is combine()'s identity
};

// Marks `address` as on the walk and says where it leads: its own line, its
// domain's catch-all, or nowhere (then so_far is already the answer).
Routes::Frame Routes::open(std::string_view address) {
  memo_[address] = Memo{Mark::kWalking, {}};
  Frame f{address, {}, 0, {}};
  // A receive=off mailbox takes nothing, whatever it forwards.
  if (std::binary_search(rows_.receive_off.begin(), rows_.receive_off.end(), address)) return f;
  const MapLine* l = line(address);
  if (l == nullptr && address.front() != '@') l = catch_all(domain_of(address));
  if (l == nullptr) {
    f.so_far = final_address(address);
    return f;
  }
  f.hops = split_destinations(l->value);
  if (f.hops.empty()) f.so_far = many();
  return f;
}

// Iterative (a chain read back from the store may be of any length), each
// address walked once. An address met again while it is still on the walk
// is a loop, which Postfix does not deliver through: kMany, never refused.
Reach Routes::reach(std::string_view address) {
  if (auto it = memo_.find(address); it != memo_.end() && it->second.mark == Mark::kDone) return it->second.reach;
  std::vector<Frame> path;
  path.push_back(open(address));
  Reach out;
  while (!path.empty()) {
    Frame& top = path.back();
    if (top.next == top.hops.size()) {
      out = top.so_far;
      memo_[top.address] = Memo{Mark::kDone, out};
      path.pop_back();
      if (!path.empty()) path.back().so_far = combine(path.back().so_far, out);
      continue;
    }
    std::string_view hop = top.hops[top.next++];
    // Postfix ends an expansion at an address that maps to itself (a
    // mailbox; a forward keeping a copy; a catch-all result equal to the
    // address), and `@target` from an alias domain's catch-all is the
    // target's catch-all: the target lists no more than the alias domain.
    if (hop == top.address) {
      top.so_far = combine(top.so_far, final_address(hop));
      continue;
    }
    if (auto it = memo_.find(hop); it != memo_.end()) {
      top.so_far = combine(top.so_far, it->second.mark == Mark::kDone ? it->second.reach : many());
      continue;
    }
    path.push_back(open(hop));
  }
  return out;
}

}  // namespace vmail
