// vmail: the admin CLI. Parses arguments and runs one command (cli/app.h).
#include <signal.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <algorithm>
#include <cstdio>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cli/app.h"
#include "cli/settings_cli.h"

namespace vmail::cli {
namespace {

// The words of the parsed command ("user passwd"): subcommand names only, so
// an argument such as --hash never reaches the audit log.
std::string command_words(const CLI::App& app) {
  std::string words;
  const CLI::App* at = &app;
  while (!at->get_subcommands().empty()) {
    at = at->get_subcommands().front();
    words += (words.empty() ? "" : " ") + at->get_name();
  }
  return words;
}

// CLI11 quotes arguments it did not expect (a second --hash value, a hash
// pasted after the address): a word that looks like a {SCHEME}hash, or the
// value of --hash=..., is not repeated in the message.
std::string without_hashes(std::string message, int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    std::string_view word = argv[i];
    if (word.rfind("--hash=", 0) == 0) word.remove_prefix(7);
    if (word.size() < 3 || word.front() != '{') continue;
    for (size_t at; (at = message.find(word)) != std::string::npos;) message.replace(at, word.size(), "{...}");
  }
  return message;
}

// Optimal string alignment distance: edits, one of them swapping two
// neighbours ("dle" is one from "del").
size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<std::vector<size_t>> d(a.size() + 1, std::vector<size_t>(b.size() + 1));
  for (size_t i = 0; i <= a.size(); ++i) d[i][0] = i;
  for (size_t j = 0; j <= b.size(); ++j) d[0][j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    for (size_t j = 1; j <= b.size(); ++j) {
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1)});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]) {
        d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
      }
    }
  }
  return d[a.size()][b.size()];
}

// The option `arg` (--name or -x) of `at` or of a group above it (their
// options fall through), or nullptr.
const CLI::Option* find_option(const CLI::App* at, const std::string& arg) {
  for (; at != nullptr; at = at->get_parent()) {
    if (const CLI::Option* opt = at->get_option_no_throw(arg)) return opt;
  }
  return nullptr;
}

// After a failed parse: the word typed where one of a group's commands was
// expected, when it names none of them, as the one line to print. Walks
// argv as the parser does: a group's commands by name, an option's value
// skipped, and stops at the first argument of a command.
std::optional<std::string> unknown_command(const CLI::App& app, int argc, char** argv) {
  const CLI::App* at = &app;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--") return std::nullopt;
    if (arg.size() > 1 && arg[0] == '-') {
      const CLI::Option* opt = arg.find('=') == std::string::npos ? find_option(at, arg) : nullptr;
      if (opt != nullptr && opt->get_items_expected_max() > 0) ++i;
      continue;
    }
    auto commands = at->get_subcommands([](const CLI::App*) { return true; });
    if (commands.empty()) return std::nullopt;  // an argument of a command
    auto named = std::find_if(commands.begin(), commands.end(), [&](const CLI::App* c) { return c->check_name(arg); });
    if (named != commands.end()) {
      at = *named;
      continue;
    }
    // The nearest name: fewest edits (at most one for a short word, two
    // otherwise), else the one name the word begins.
    const CLI::App* nearest = nullptr;
    size_t best = arg.size() < 4 ? 1 : 2;
    for (const CLI::App* c : commands) {
      size_t d = edit_distance(arg, c->get_name());
      if (d <= best && (nearest == nullptr || d < best)) nearest = c, best = d;
    }
    if (nearest == nullptr) {
      size_t prefixed = 0;
      for (const CLI::App* c : commands) {
        if (c->get_name().rfind(arg, 0) == 0) nearest = c, ++prefixed;
      }
      if (prefixed != 1) nearest = nullptr;
    }
    std::string line = "unknown command \"" + arg + "\"";
    if (nearest != nullptr) return line + "; did you mean \"" + nearest->get_name() + "\"?";
    std::string group;
    for (const CLI::App* g = at; g->get_parent() != nullptr; g = g->get_parent()) group = g->get_name() + " " + group;
    return line + " (see vmail " + group + "--help)";
  }
  return std::nullopt;
}

int run(int argc, char** argv) {
  CLI::App app{"vmail: mail domains, users and aliases for Postfix and Dovecot", "vmail"};
  app.set_version_flag("--version", std::string(VMAIL_VERSION));
  app.require_subcommand(1);
  app.fallthrough();
  Context ctx;
  // Every setting `vmail` takes, from the one table (core/settings_table.h).
  add_setting_flags(app, ctx.flags, kScopeVmail);
  app.add_flag("--json", ctx.json, "print JSON on stdout");
  auto* quiet = app.add_flag("-q,--quiet", ctx.quiet, "only errors on stderr");
  app.add_flag("-v,--verbose", ctx.verbose, "debug output on stderr")->excludes(quiet);
  app.add_flag("--no-export", ctx.no_export, "do not regenerate the exported files");

  // Every command group, in the order --help lists them (cli/app.h).
  add_domain_commands(app, ctx);
  add_user_commands(app, ctx);
  add_alias_commands(app, ctx);
  add_export_command(app, ctx);
  add_db_commands(app, ctx);
  add_ban_commands(app, ctx);
  add_getent_command(app, ctx);
  add_health_command(app, ctx);
  add_log_command(app, ctx);
  add_config_command(app, ctx);

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    if (auto unknown = unknown_command(app, argc, argv)) {
      std::fprintf(stderr, "vmail: %s\n", without_hashes(*unknown, argc, argv).c_str());
      return static_cast<int>(Code::kUsage);
    }
    std::fprintf(stderr, "vmail: %s (see vmail --help)\n", without_hashes(e.what(), argc, argv).c_str());
    return static_cast<int>(Code::kUsage);
  }

  ctx.command = command_words(app);
  export_setting_flags(ctx.flags);
  auto logger = spdlog::stderr_logger_st("vmail");
  logger->set_pattern("vmail: %l: %v");
  logger->set_level(ctx.quiet ? spdlog::level::err : ctx.verbose ? spdlog::level::debug : spdlog::level::info);
  spdlog::set_default_logger(logger);

  if (!ctx.action) {
    std::fprintf(stderr, "vmail: no command given (see vmail --help)\n");
    return static_cast<int>(Code::kUsage);
  }
  Status status;
  try {
    status = ctx.action();
  } catch (const std::exception& e) {
    status = Status(Code::kInternal, std::string("internal error: ") + e.what());
  }
  if (!status.ok() && !status.message().empty()) std::fprintf(stderr, "vmail: %s\n", status.message().c_str());
  std::fflush(stdout);
  return status.exit_code();
}

}  // namespace
}  // namespace vmail::cli

int main(int argc, char** argv) {
  signal(SIGPIPE, SIG_IGN);
  umask(077);
  return vmail::cli::run(argc, argv);
}
