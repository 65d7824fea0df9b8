// vmail: the admin CLI. Parses arguments and runs one command (cli/app.h).
#include <signal.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <cstdio>
#include <string>
#include <string_view>

#include "cli/app.h"

namespace vmail::cli {
namespace {

void add_setting_flag(CLI::App& app, Context& ctx, const std::string& flag, const std::string& var,
                      const std::string& help) {
  app.add_option(flag, ctx.flags[var], help + " (env " + var + ")")->group("Settings");
}

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

int run(int argc, char** argv) {
  CLI::App app{"vmail: mail domains, users and aliases for Postfix and Dovecot", "vmail"};
  app.set_version_flag("--version", std::string(VMAIL_VERSION));
  app.require_subcommand(1);
  app.fallthrough();
  Context ctx;
  add_setting_flag(app, ctx, "--db", "VMAIL_DB", "database file");
  add_setting_flag(app, ctx, "--root", "VMAIL_ROOT", "prefix of every default path");
  add_setting_flag(app, ctx, "--state-dir", "VMAIL_STATE_DIR", "state folder");
  add_setting_flag(app, ctx, "--mail-dir", "VMAIL_MAIL_DIR", "maildir base");
  add_setting_flag(app, ctx, "--postfix-dir", "VMAIL_POSTFIX_DIR", "Postfix folder");
  add_setting_flag(app, ctx, "--dovecot-dir", "VMAIL_DOVECOT_DIR", "Dovecot folder");
  add_setting_flag(app, ctx, "--opendkim-dir", "VMAIL_OPENDKIM_DIR", "OpenDKIM folder (KeyTable, SigningTable)");
  add_setting_flag(app, ctx, "--uid", "VMAIL_UID", "owner of maildirs");
  add_setting_flag(app, ctx, "--gid", "VMAIL_GID", "group of maildirs");
  add_setting_flag(app, ctx, "--password-scheme", "VMAIL_PASSWORD_SCHEME", "SHA512-CRYPT, BLF-CRYPT or YESCRYPT");
  add_setting_flag(app, ctx, "--map-type", "VMAIL_MAP_TYPE", "hash, lmdb or cdb");
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
  add_getent_command(app, ctx);
  add_health_command(app, ctx);
  add_log_command(app, ctx);

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::fprintf(stderr, "vmail: %s (see vmail --help)\n", without_hashes(e.what(), argc, argv).c_str());
    return static_cast<int>(Code::kUsage);
  }

  ctx.command = command_words(app);
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
