#include "pg/connection.h"

#include <poll.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <sstream>

#include "core/files.h"
#include "pg/url.h"

namespace vmail::pg {
namespace {

// libpq's messages can run over several lines ("connection to server at …
// failed: …\n"): keep the first non-empty one, trimmed.
std::string first_line(const char* message) {
  std::string text = message ? message : "";
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    while (!line.empty() && (line.back() == ' ' || line.back() == '\r')) line.pop_back();
    if (!line.empty()) return line;
  }
  return "unknown error";
}

// Refusals that no retry will cure: a wrong password, a missing role or
// database, a server that refuses this client or this encryption, a server
// certificate that does not verify or a CA file that is not there.
bool refused_for_good(const std::string& message) {
  for (const char* marker :
       {"password authentication failed", "no password supplied", "does not exist", "authentication failed",
        "no pg_hba.conf entry", "pg_hba.conf rejects", "invalid URI", "invalid connection option", "invalid sslmode",
        "missing \"=\"", "certificate verify failed", "does not match host name", "root certificate file",
        "SSL was required"}) {
    if (message.find(marker) != std::string::npos) return true;
  }
  return false;
}

}  // namespace

std::string Rows::text(int row, int column) const {
  return std::string(PQgetvalue(result_.get(), row, column),
                     static_cast<size_t>(PQgetlength(result_.get(), row, column)));
}

std::optional<std::string> Rows::value(int row, int column) const {
  if (is_null(row, column)) return std::nullopt;
  return text(row, column);
}

int64_t Rows::integer(int row, int column) const { return std::stoll(text(row, column)); }

int Rows::affected() const {
  const char* n = PQcmdTuples(result_.get());
  return (n == nullptr || *n == '\0') ? 0 : std::atoi(n);
}

std::string describe_url(const std::string& url) {
  char* error = nullptr;
  PQconninfoOption* options = PQconninfoParse(url.c_str(), &error);
  if (options == nullptr) {
    PQfreemem(error);
    return "the PostgreSQL server of VMAIL_DB";
  }
  std::string host = "localhost", port = "5432", db;
  for (PQconninfoOption* o = options; o->keyword != nullptr; ++o) {
    if (o->val == nullptr) continue;
    if (std::strcmp(o->keyword, "host") == 0) host = o->val;
    if (std::strcmp(o->keyword, "port") == 0) port = o->val;
    if (std::strcmp(o->keyword, "dbname") == 0) db = o->val;
  }
  PQconninfoFree(options);
  return host + ":" + port + "/" + db;
}

Result<std::unique_ptr<Connection>> Connection::open(const Settings& settings) {
  // Again here, whoever loaded the settings: no connection without the check.
  if (Status s = check_url(settings.upstream, "VMAIL_DB"); !s.ok()) return s;
  return open(settings.upstream, settings.db_password_file);
}

Result<std::unique_ptr<Connection>> Connection::open(const std::string& url, const std::string& password_file) {
  std::string name = describe_url(url);
  std::optional<std::string> password;
  if (!password_file.empty()) {
    auto p = read_secret_file("VMAIL_DB_PASSWORD_FILE", password_file);
    if (!p.ok()) return p.status();
    password = *p;
  }
  std::vector<const char*> keys = {"dbname", "connect_timeout", "application_name"};
  std::vector<const char*> values = {url.c_str(), "5", "vmail"};
  if (password) {
    keys.push_back("password");
    values.push_back(password->c_str());
  }
  keys.push_back(nullptr);
  values.push_back(nullptr);
  PGconn* conn = PQconnectdbParams(keys.data(), values.data(), 1);
  if (conn == nullptr) return Status(Code::kInternal, "PostgreSQL " + name + ": out of memory");
  if (PQstatus(conn) != CONNECTION_OK) {
    std::string reason = first_line(PQerrorMessage(conn));
    PQfinish(conn);
    Code code = refused_for_good(reason) ? Code::kConfig : Code::kBusy;
    // 75 "is unreachable" (try again later) or 78 "cannot be used"
    // (a password, a certificate or pg_hba.conf must change first).
    return Status(code,
                  "PostgreSQL " + name + (code == Code::kBusy ? " is unreachable: " : " cannot be used: ") + reason);
  }
  // Replies in UTC and plain text, whatever the server's defaults.
  PGresult* r = PQexec(conn, "SET TIME ZONE 'UTC'; SET client_min_messages = warning");
  PQclear(r);
  return std::unique_ptr<Connection>(new Connection(conn, name));
}

Connection::~Connection() { PQfinish(conn_); }

Status Connection::error(const std::string& what, const PGresult* result) const {
  std::string message = first_line(result ? PQresultErrorMessage(result) : PQerrorMessage(conn_));
  if (message == "unknown error") message = first_line(PQerrorMessage(conn_));
  if (PQstatus(conn_) != CONNECTION_OK) {
    return Status(Code::kBusy, "PostgreSQL " + name_ + ": connection lost (" + message + ")");
  }
  const char* state = result ? PQresultErrorField(result, PG_DIAG_SQLSTATE) : nullptr;
  std::string sqlstate = state ? state : "";
  Code code = Code::kInternal;
  if (sqlstate.rfind("23", 0) == 0) code = Code::kBadInput;
  if (sqlstate == "40001" || sqlstate == "40P01" || sqlstate.rfind("08", 0) == 0 || sqlstate.rfind("57P", 0) == 0) {
    code = Code::kBusy;
  }
  return Status(code, "PostgreSQL " + name_ + ": " + what + ": " + message);
}

Status Connection::exec(const std::string& sql) {
  PGresult* r = PQexec(conn_, sql.c_str());
  Rows owned(r);
  ExecStatusType status = PQresultStatus(r);
  if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) return error(sql.substr(0, sql.find_first_of(" \n")), r);
  return Status::Ok();
}

Result<Rows> Connection::query(const std::string& sql, const std::vector<Param>& params, bool binary_result) {
  std::vector<const char*> values;
  values.reserve(params.size());
  for (const Param& p : params) values.push_back(p ? p->c_str() : nullptr);
  PGresult* r = PQexecParams(conn_, sql.c_str(), static_cast<int>(values.size()), nullptr, values.data(), nullptr,
                             nullptr, binary_result ? 1 : 0);
  Rows rows(r);
  ExecStatusType status = PQresultStatus(r);
  if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
    return error(sql.substr(0, sql.find_first_of(" \n")), r);
  }
  return rows;
}

Result<Rows> Connection::query_binary_param(const std::string& sql, const std::string& bytes) {
  const char* value = bytes.data();
  int length = static_cast<int>(bytes.size());
  int format = 1;
  PGresult* r = PQexecParams(conn_, sql.c_str(), 1, nullptr, &value, &length, &format, 0);
  Rows rows(r);
  ExecStatusType status = PQresultStatus(r);
  if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
    return error(sql.substr(0, sql.find_first_of(" \n")), r);
  }
  return rows;
}

Result<std::vector<int>> Connection::pipeline(
    const std::vector<std::pair<std::string, std::vector<Param>>>& statements) {
  std::vector<int> affected;
  // Small batches keep the server's replies within the socket buffers, so
  // sending never waits on a server that waits for us to read.
  constexpr size_t kBatch = 256;
  for (size_t start = 0; start < statements.size(); start += kBatch) {
    size_t end = std::min(statements.size(), start + kBatch);
    if (PQenterPipelineMode(conn_) != 1) return error("pipeline", nullptr);
    for (size_t i = start; i < end; ++i) {
      std::vector<const char*> values;
      for (const Param& p : statements[i].second) values.push_back(p ? p->c_str() : nullptr);
      if (PQsendQueryParams(conn_, statements[i].first.c_str(), static_cast<int>(values.size()), nullptr, values.data(),
                            nullptr, nullptr, 0) != 1) {
        Status s = error("pipeline", nullptr);
        PQexitPipelineMode(conn_);
        return s;
      }
    }
    if (PQpipelineSync(conn_) != 1) return error("pipeline", nullptr);
    Status first = Status::Ok();
    for (size_t i = start; i < end; ++i) {
      PGresult* r = PQgetResult(conn_);
      Rows rows(r);
      ExecStatusType status = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
      if (status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK) {
        affected.push_back(rows.affected());
      } else if (first.ok() && status != PGRES_PIPELINE_ABORTED) {
        const std::string& sql = statements[i].first;
        first = error(sql.substr(0, sql.find_first_of(" \n")), r);
      }
      while (PGresult* extra = PQgetResult(conn_)) PQclear(extra);  // the NULL after each query
    }
    // The sync's own result, then out of pipeline mode.
    while (PGresult* r = PQgetResult(conn_)) {
      ExecStatusType status = PQresultStatus(r);
      PQclear(r);
      if (status == PGRES_PIPELINE_SYNC) break;
    }
    PQexitPipelineMode(conn_);
    if (!first.ok()) return first;
    if (PQstatus(conn_) != CONNECTION_OK) return error("pipeline", nullptr);
  }
  return affected;
}

Status Connection::listen(const std::string& channel) { return exec("LISTEN " + channel); }

Result<bool> Connection::wait_for_notification(std::chrono::milliseconds timeout) {
  auto drain = [&]() {
    bool any = false;
    while (PGnotify* n = PQnotifies(conn_)) {
      any = true;
      PQfreemem(n);
    }
    return any;
  };
  if (PQconsumeInput(conn_) == 0) return error("waiting for changes", nullptr);
  if (drain()) return true;
  pollfd fd{PQsocket(conn_), POLLIN, 0};
  if (fd.fd < 0) return error("waiting for changes", nullptr);
  int n = ::poll(&fd, 1, static_cast<int>(timeout.count()));
  if (n <= 0) return false;
  if (PQconsumeInput(conn_) == 0) return error("waiting for changes", nullptr);
  return drain();
}

}  // namespace vmail::pg
