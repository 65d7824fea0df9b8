// The checks a PostgreSQL URL (VMAIL_DB, `db migrate-to URL`) passes before
// anything connects: parsed by libpq's own PQconninfoParse, so what is
// checked is what libpq would use (percent-encoded keys and values, query
// parameters anywhere, user:password@ in the authority).
//
// One implementation, here where libpq may be used (ARCHITECTURE.md); the CLI
// and the launcher call it where they take the URL, and Connection::open
// calls it again before every connection.
#pragma once

#include <string>

#include "core/settings.h"
#include "core/status.h"

namespace vmail::pg {

// kConfig (78), one line starting with `name` that never quotes a password
// or libpq's reading of the URL, when the URL:
//  - holds white space, or libpq cannot parse it (libpq's reason, without
//    the part of the URL it quotes);
//  - holds a password or sslpassword (`user:pw@`, `?password=`, in any
//    spelling libpq decodes): it would show in `ps`, shell histories and
//    logs; it belongs in VMAIL_DB_PASSWORD_FILE or PGPASSFILE;
//  - reaches a server over the network without a verified TLS connection:
//    every host (or hostaddr, which is where libpq connects when given) that
//    is not a socket folder, `localhost`, 127.0.0.0/8 or ::1 needs sslmode
//    verify-full or verify-ca. What the URL leaves out comes from libpq's
//    environment (PGHOST, PGHOSTADDR, PGSSLMODE), read through `env`.
// Pure: it resolves no name and opens no socket.
Status check_url(const std::string& url, const std::string& name, const EnvReader& env = process_env());

}  // namespace vmail::pg
