// The `vmail` command line: the context every command shares and the
// registration of each command group. Every command parses its arguments,
// validates them through the core library and returns a Status; main() prints
// the Status and exits with its code.
//
// One registration mechanism: each command group has an `add_X_commands`
// function, defined in its own cli/*_command.cc, and vmail_main.cc calls them
// all from one list. A command's callback stores the work in Context::action;
// main() runs it once parsing has finished.
#pragma once

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/database.h"
#include "core/settings.h"
#include "core/status.h"
#include "core/store.h"
#include "pg/connection.h"

namespace vmail::cli {

// Shared by the commands of one run; single-threaded.
class Context {
 public:
  // Setting flags by variable name (`--db` -> VMAIL_DB), filled by CLI11.
  std::map<std::string, std::string> flags;
  bool json = false;
  bool no_export = false;
  bool quiet = false;
  bool verbose = false;
  // The command to run once parsing has finished.
  std::function<Status()> action;
  // Its words ("user passwd", never its arguments), set once parsing has
  // finished: what the audit log records as the command.
  std::string command;

  // Storage for parsed arguments that lives as long as the context.
  template <class T, class... Args>
  T* keep(Args&&... args) {
    auto owned = std::make_shared<T>(std::forward<Args>(args)...);
    T* raw = owned.get();
    kept_.push_back(std::move(owned));
    return raw;
  }

  // Settings from flags and environment (recorded ones applied once the
  // database is open). kConfig on a bad value.
  Result<Settings*> settings();
  // The database, created and migrated on first use; applies the recorded
  // export settings. Owned by the context. With a PostgreSQL VMAIL_DB it is
  // the node's replica, brought up to date and writing through the shared
  // store (pg/replica.h); kBusy (75) when that cannot be reached.
  Result<Database*> database();
  // For read commands (SPEC: `list`, `show`, `log`, `getent`, `db status`,
  // `export --check`, …): the database as it is, never created or migrated
  // (Database::open_for_reading: kNoInput when missing, an older schema read
  // through a migrated copy in memory); applies the recorded export
  // settings. database() when that was opened already, and with a PostgreSQL
  // VMAIL_DB (the shared store exists; the replica is this node's cache).
  Result<Database*> reading_database();
  // A Store over reading_database(), for commands that only read.
  Result<Store> reading_store();
  // The shared store's connection once database() opened one; nullptr for a
  // SQLite store.
  pg::Connection* upstream() { return upstream_.get(); }
  // Who this run's changes are recorded as (audit.h): uid, SUDO_USER, command.
  Actor actor() const;
  // A Store over database() recording changes as actor(): the Status why the
  // database cannot be opened, or a Store valid as long as this context.
  Result<Store> store();
  // After a committed change: regenerate the exported files unless
  // --no-export. A failure keeps the change and returns 73/74.
  Status export_after_change();

 private:
  std::optional<Settings> settings_;
  std::unique_ptr<Database> db_;
  std::unique_ptr<Database> read_db_;  // reading_database() of a SQLite store
  std::shared_ptr<pg::Connection> upstream_;
  std::vector<std::shared_ptr<void>> kept_;
};

// An optional DOMAIN argument of `list`: nullopt for "" (every domain), else
// the normalized domain; kBadInput for a bad name.
Result<std::optional<std::string>> domain_filter(const std::string& input);

// Output on stdout. -q silences progress and confirmations, never the data a
// command was asked for (a list, a record, DNS lines, a health report).
// print_line prints a confirmation or info line unless --json or --quiet;
// print_data prints a line of data whatever -q says; print_table prints
// data as columns aligned by their width on a terminal (display_width:
// accents and CJK included); print_json prints `value` indented by two.
void print_line(const Context& ctx, const std::string& line);
void print_data(const std::string& line);
void print_table(const std::vector<std::vector<std::string>>& rows);
void print_json(const nlohmann::ordered_json& value);
// The columns `text` takes on a terminal: UTF-8 decoded, each character's
// wcwidth (2 for East Asian wide ones, 0 for combining marks); a byte that
// is not UTF-8, or a character without a width, counts 1.
size_t display_width(std::string_view text);

// What `domain del` or `user del` removes (SPEC "Destructive commands"):
// --dry-run prints it (print_plan: a table, or JSON with these keys, data
// that -q keeps); --purge asks about it first (confirm_purge): `yes`
// (--yes) answers for scripts, a terminal on standard input is asked
// (y/N), and without one it is kUsage (64) in one line. kUsage as well for
// any answer but y or yes. add_maildir lists a maildir when it exists.
struct DeletionPlan {
  std::vector<std::string> domains;
  std::vector<std::string> alias_domains;
  std::vector<std::string> users;
  std::vector<std::string> aliases;
  std::vector<DkimKey> dkim_keys;
  std::vector<std::string> maildirs;
};
void add_maildir(DeletionPlan& plan, const std::string& path);
Status print_plan(Context& ctx, const DeletionPlan& plan);
Status confirm_purge(const std::string& command, const DeletionPlan& plan, bool yes);

// The command groups, in the order `vmail --help` lists them.
void add_domain_commands(CLI::App& app, Context& ctx);  // domain_command.cc
void add_user_commands(CLI::App& app, Context& ctx);    // user_command.cc
void add_alias_commands(CLI::App& app, Context& ctx);   // alias_command.cc
void add_export_command(CLI::App& app, Context& ctx);   // export_command.cc
void add_db_commands(CLI::App& app, Context& ctx);      // db_command.cc
void add_ban_commands(CLI::App& app, Context& ctx);     // ban_command.cc
void add_getent_command(CLI::App& app, Context& ctx);   // getent_command.cc
void add_health_command(CLI::App& app, Context& ctx);   // health_command.cc
void add_log_command(CLI::App& app, Context& ctx);      // log_command.cc
void add_config_command(CLI::App& app, Context& ctx);   // config_command.cc

// `domain dkim` and `domain dns` (dkim_command.cc), added to the domain group
// by add_domain_commands; the keys a new domain gets (one rsa key, the key
// owner warning printed on stderr); and the removal of key files no key row
// names (after `domain del`).
void add_domain_dkim_commands(CLI::App& group, Context& ctx);
Result<NewDkimKeys> new_keys_for_domain(Context& ctx);
Status sweep_key_files(Context& ctx, Store& store);

// `user access` and `user vacation` (user_features_command.cc), added to the
// user group by add_user_commands; and what `user show` reports of them:
// the access switches ({"imap": true, ...}) and the mailbox usage
// ({"storage": bytes, "messages": n} from `doveadm quota get`, null when
// Dovecot's rendered configuration is missing or doveadm fails) and the
// vacation reply read back from its script ({"subject", "until", "message"},
// null when off, {"error"} for a script vmail did not write or an unreadable
// home) and that as one line of text.
void add_user_feature_commands(CLI::App& group, Context& ctx);
nlohmann::ordered_json access_json(Store& store, const std::string& address);
nlohmann::ordered_json mailbox_usage(const Settings& settings, const std::string& address);
nlohmann::ordered_json vacation_json(const Settings& settings, const User& user);
std::string vacation_text(const nlohmann::ordered_json& vacation);

// `user import` or `alias import` (import_command.cc), added to the group by
// add_user_commands and add_alias_commands.
enum class ImportKind { kUsers, kAliases };
void add_import_command(CLI::App& group, Context& ctx, ImportKind kind);

}  // namespace vmail::cli
