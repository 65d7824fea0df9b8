// Mail routing loops (SPEC "Addresses and passwords": alias destinations
// never form a cycle, of any length; the refusal names the cycle).
//
// The routing graph, as Postfix's virtual alias expansion walks it: an alias
// source leads to its destinations; a mailbox ends a chain unless it forwards
// (then it leads to its forward's destinations); an address at an alias domain
// leads to the same local part at the target; any other address of a domain
// with a catch-all leads to the catch-all's destinations. Never to itself:
// Postfix ends an expansion at an address that maps to itself.
//
// Pure functions and one reader over the caller's open transaction; no state
// is kept between calls. Thread-safe as far as the connection passed in is.
#pragma once

#include <SQLiteCpp/SQLiteCpp.h>

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace vmail {

// The addresses one address leads to (empty: the chain ends there).
using NextHops = std::function<std::vector<std::string>(const std::string& address)>;

// The first cycle reachable from `starts`: the addresses along it, the first
// one repeated at the end (`a -> b -> a` is {a, b, a}); empty when there is
// none. Iterative, so a chain of any length is fine; each address is
// expanded at most once.
std::vector<std::string> find_cycle(const std::vector<std::string>& starts, const NextHops& next);

// The hops stored in `db`, read inside the caller's transaction (so rows it
// has just written count). Valid while `db` is; statements are prepared once.
NextHops stored_hops(SQLite::Database& db);

// Ok for an empty cycle, else kBadInput `FIELD: a -> b -> a would loop`.
Status loop_status(const std::vector<std::string>& cycle, std::string_view field);

// Checks the routing stored in `db`, read inside the caller's transaction
// (so rows it has just written count): kBadInput `FIELD: a -> b -> a would
// loop` when a cycle is reachable from `starts`.
Status check_no_loop(SQLite::Database& db, const std::vector<std::string>& starts, std::string_view field);

}  // namespace vmail
