// A node's local SQLite replica of the shared PostgreSQL store.
//
// The replica is an ordinary vmail database (same migrations), so exporters,
// the NSS module and `vmail health` read it as they read a single-node store.
// Its node-local table `replication` holds the shared store's cluster id and
// the `seq` of the last change applied. Followers apply the changes others
// committed (vmail_changes, in seq order) as SQLite changesets; when that is
// not possible (a new replica, another cluster, a store restored to an
// earlier point, a change that does not apply, a replica so far behind that
// its next change has been pruned from the log) the replica is copied whole
// from the shared store instead, in one transaction.
//
// Writes: attach_upstream() makes Database::write() commit through the
// shared store (see core/database.h, class Upstream): cluster-wide write
// lock, catch up, run, record, commit upstream, commit the replica.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/database.h"
#include "core/dkim.h"
#include "core/status.h"
#include "pg/connection.h"

namespace vmail::pg {

// The tables shared through PostgreSQL, parents before children. Node-local
// tables (`settings`, `replication`) are not among them.
const std::vector<std::string>& shared_tables();

// The channel every commit NOTIFYs (payload: its seq).
inline constexpr const char* kChannel = "vmail_changes";

// The change log (vmail_changes) keeps at least kChangeLogDays of changes:
// the write whose seq is a multiple of kPruneEvery drops older entries. A
// replica whose next change is gone is copied whole, as a new one is.
inline constexpr int kChangeLogDays = 7;
inline constexpr int64_t kPruneEvery = 1000;

struct CatchUp {
  int64_t applied = 0;       // changes applied
  bool full_resync = false;  // the replica was copied whole
  int64_t seq = 0;           // the replica's seq afterwards
};

// The seq of the last change the replica holds (0: none yet).
Result<int64_t> replica_seq(Database& replica);

// The shared store's change log (`vmail db status`): the last change's seq
// and the oldest kept, and how many are kept (0 when the log is empty).
struct ChangeLogHead {
  int64_t seq = 0;
  int64_t oldest_seq = 0;
  int64_t entries = 0;
};
Result<ChangeLogHead> change_log_head(Connection& conn);

// Brings the replica up to date: one read-only REPEATABLE READ transaction
// upstream, one write transaction on the replica. kBusy when the shared
// store cannot be reached (the replica is left as it was).
Result<CatchUp> catch_up(Connection& conn, Database& replica);

// The same inside transactions the caller holds open on both sides.
Result<CatchUp> catch_up_in_transaction(Connection& conn, Database& replica);

// What every command and the launcher do first on a node of a shared store:
// connect (kBusy, 75, when the server cannot be reached; kConfig, 78, when it
// refuses this node), migrate the shared store, catch the replica up, write
// this node's missing DKIM key files (pg/dkim_share.h), and attach the
// connection so that replica.write() commits through it.
struct Joined {
  std::shared_ptr<Connection> conn;
  CatchUp caught;
};
Result<Joined> join_shared_store(const Settings& settings, Database& replica);

// From now on replica.write() commits through `conn`. With `dkim_files`, a
// change of DKIM keys also shares their private keys (pg/dkim_share.h).
void attach_upstream(Database& replica, std::shared_ptr<Connection> conn,
                     std::optional<DkimKeyFiles> dkim_files = std::nullopt);

}  // namespace vmail::pg
