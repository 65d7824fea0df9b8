// The `vmail` command line: shared context and the registration of each
// command group. Every command parses its arguments, validates them through
// the core library and returns a Status; main() prints the Status and exits
// with its code.
#pragma once

#include <CLI/CLI.hpp>

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/database.h"
#include "core/settings.h"
#include "core/status.h"

namespace vmail::cli {

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
  // export settings.
  Result<Database*> database();
  // After a committed change: regenerate the exported files unless
  // --no-export. A failure keeps the change and returns 73/74.
  Status export_after_change();

 private:
  std::optional<Settings> settings_;
  std::unique_ptr<Database> db_;
  std::vector<std::shared_ptr<void>> kept_;
};

// Prints a line on stdout unless --json (used for confirmations and tables).
void print_line(const Context& ctx, const std::string& line);

void add_domain_commands(CLI::App& app, Context& ctx);
void add_user_commands(CLI::App& app, Context& ctx);
void add_alias_commands(CLI::App& app, Context& ctx);
void add_export_command(CLI::App& app, Context& ctx);
void add_db_commands(CLI::App& app, Context& ctx);

// Further command groups (getent, import, health) register themselves from
// their own files: `static RegisterGroup reg(add_getent_commands);`.
using CommandGroup = void (*)(CLI::App& app, Context& ctx);
std::vector<CommandGroup>& extra_command_groups();
struct RegisterGroup {
  explicit RegisterGroup(CommandGroup group) { extra_command_groups().push_back(group); }
};

// Reads a password: `--password-stdin` reads one line from standard input;
// otherwise prompts twice without echo on the terminal. kUsage when neither
// is possible.
Result<std::string> read_password(bool from_stdin);

}  // namespace vmail::cli
