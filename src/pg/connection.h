// A connection to the shared PostgreSQL store (libpq), and its results.
//
// Opened from Settings: the URL of VMAIL_DB (never holding a password: see
// core/settings.h), the password from VMAIL_DB_PASSWORD_FILE or libpq's own
// PGPASSFILE. Every failure is a Status with one line that names the server
// as host:port/dbname and never a password:
//   kBusy (75)   the server cannot be reached, or the connection was lost;
//   kConfig (78) the server refused us (authentication, no such database),
//                or the password file cannot be read;
//   kBadInput (65) a constraint refused a row (SQLSTATE class 23);
//   kInternal (70) any other SQL error.
//
// A Connection is used by one thread at a time.
#pragma once

#include <libpq-fe.h>

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/settings.h"
#include "core/status.h"

namespace vmail::pg {

// One query's rows, as text (or binary where asked); owns the PGresult.
class Rows {
 public:
  explicit Rows(PGresult* result) : result_(result, &PQclear) {}
  int size() const { return PQntuples(result_.get()); }
  int columns() const { return PQnfields(result_.get()); }
  std::string column_name(int column) const { return PQfname(result_.get(), column); }
  bool is_null(int row, int column) const { return PQgetisnull(result_.get(), row, column) != 0; }
  std::string text(int row, int column) const;
  std::optional<std::string> value(int row, int column) const;  // nullopt for NULL
  int64_t integer(int row, int column) const;                   // a text-format integer
  // Rows an INSERT, UPDATE or DELETE touched.
  int affected() const;

 private:
  std::unique_ptr<PGresult, decltype(&PQclear)> result_;
};

// A query parameter: text, or NULL.
using Param = std::optional<std::string>;

class Connection {
 public:
  // Connects (5 s timeout). See the header comment for the errors.
  static Result<std::unique_ptr<Connection>> open(const Settings& settings);
  // The same for a URL given on a command line (`db migrate-to`).
  static Result<std::unique_ptr<Connection>> open(const std::string& url, const std::string& password_file);

  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Runs SQL without parameters (may hold several statements).
  Status exec(const std::string& sql);
  // Runs one statement with text parameters; `binary_result` asks for binary columns.
  Result<Rows> query(const std::string& sql, const std::vector<Param>& params = {}, bool binary_result = false);
  // One statement whose single parameter is binary (bytea).
  Result<Rows> query_binary_param(const std::string& sql, const std::string& bytes);

  // Runs the statements in libpq's pipeline mode (no round trip each), in
  // order, inside the caller's transaction; returns the rows each touched.
  // The first failure is returned and the statements after it do not run.
  Result<std::vector<int>> pipeline(const std::vector<std::pair<std::string, std::vector<Param>>>& statements);

  // LISTENs on `channel` (a fixed identifier, not user input).
  Status listen(const std::string& channel);
  // Waits up to `timeout` for a notification; true when one (or more) came.
  Result<bool> wait_for_notification(std::chrono::milliseconds timeout);

  bool alive() const { return PQstatus(conn_) == CONNECTION_OK; }
  // host:port/dbname, for messages.
  const std::string& name() const { return name_; }

 private:
  Connection(PGconn* conn, std::string name) : conn_(conn), name_(std::move(name)) {}
  Status error(const std::string& what, const PGresult* result) const;

  PGconn* conn_;
  std::string name_;
};

// The server named without secrets: host:port/dbname of a URL that did not
// connect (for the messages of open()).
std::string describe_url(const std::string& url);

}  // namespace vmail::pg
