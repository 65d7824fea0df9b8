// DKIM private keys across nodes. The replica keeps a key's row (shared like
// every row) and the node keeps its private key as a file (core/dkim.h); the
// shared store keeps a copy of each private key in vmail_dkim_private, so a
// node that did not make a key writes its own file from it.
#pragma once

#include "core/database.h"
#include "core/dkim.h"
#include "core/status.h"
#include "pg/connection.h"

namespace vmail::pg {

struct DkimShare {
  int uploaded = 0;  // local files copied to the shared store
  int written = 0;   // files written on this node from the shared store
  int missing = 0;   // keys with neither a file here nor a copy upstream
};

// Inside the caller's upstream transaction: copies every key file of this
// node that the shared store lacks, and drops the copies of keys no row
// names any more (deleted domains, removed keys).
Result<DkimShare> upload_dkim_keys(Connection& conn, Database& replica, const DkimKeyFiles& files);

// Writes the file of every key of the replica that has none on this node,
// from the shared store's copy (atomically, 0600, owned as `files` says).
// Its own short read transaction upstream.
Result<DkimShare> fetch_dkim_keys(Connection& conn, Database& replica, const DkimKeyFiles& files);

}  // namespace vmail::pg
