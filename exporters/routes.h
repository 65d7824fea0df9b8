// Where mail for an address ends up, the way Postfix's virtual alias
// expansion walks the exported virtual map, so that receive=off and quotas
// hold for every address that reaches a mailbox (SPEC "Mail policy"), not
// only for the mailbox's own address.
//
// The walk: a key of the map leads to its destinations (an address that maps
// to itself ends there: a mailbox, or a forward with a kept copy); any other
// address goes to its domain's catch-all (`@domain`), if any, whose
// destination `@target` (an alias domain's catch-all) means the same local
// part at the target; an address that is no key and has no catch-all ends
// there (a remote address, or one Postfix refuses as unknown). A mailbox
// with receive=off ends every walk that reaches it: it takes no mail, from
// any address.
//
// Used by the virtual map (destinations that reach only receive=off
// mailboxes are left out), recipient_access (addresses that reach nothing
// else are refused at RCPT) and the quota-status userdb (an address that
// reaches exactly one mailbox is judged by that mailbox's quota).
//
// A Routes points into the CheckedRows and map lines it was built from, which
// must outlive it. Answers are memoised: not thread-safe.
#pragma once

#include <string_view>
#include <unordered_map>
#include <vector>

#include "exporters/checked_rows.h"
#include "exporters/postfix_maps.h"

namespace vmail {

// Destinations of a virtual map value (`a,b,c`).
std::vector<std::string_view> split_destinations(std::string_view value);

struct Reach {
  enum class Kind {
    kRefused,  // only receive=off mailboxes
    kOne,      // exactly one final address (`to`) other than those
    kMany,     // several, or not known (a loop)
  };
  Kind kind = Kind::kRefused;
  std::string_view to;  // for kOne
};

class Routes {
 public:
  // `lines`: the virtual map (build_virtual_map), sorted by key, no key twice.
  Routes(const CheckedRows& rows, const std::vector<MapLine>& lines);
  Routes(const Routes&) = delete;
  Routes& operator=(const Routes&) = delete;

  // True when some mailbox has receive=off (else nothing is ever refused).
  bool any_receive_off() const { return !rows_.receive_off.empty(); }

  // Where mail for `address` ends up: a full address, or `@domain` for an
  // address that domain does not list (what its catch-all does). `address`
  // must stay valid as long as this Routes (the map's keys and values do).
  Reach reach(std::string_view address);

  // reach(address) is kRefused.
  bool refused(std::string_view address) { return reach(address).kind == Reach::Kind::kRefused; }

  // The checked mailbox at `address`, or nullptr.
  const CheckedUser* mailbox(std::string_view address) const;

 private:
  struct Frame;
  Frame open(std::string_view address);
  Reach final_address(std::string_view address) const;
  const MapLine* line(std::string_view key) const;
  const MapLine* catch_all(std::string_view domain) const;

  const CheckedRows& rows_;
  const std::vector<MapLine>& lines_;
  std::unordered_map<std::string_view, const MapLine*> catch_alls_;  // by domain
  enum class Mark { kWalking, kDone };
  struct Memo {
    Mark mark;
    Reach reach;
  };
  std::unordered_map<std::string_view, Memo> memo_;
};

}  // namespace vmail
