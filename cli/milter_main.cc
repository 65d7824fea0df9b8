// vmail-milter: refuses mail whose From: header is not an address the SASL
// login may send as (src/milter/milter.h). Started and supervised by
// vmail-launch; it only parses its arguments and runs the library.
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <exception>

#include "milter/milter.h"

int main(int argc, char** argv) {
  CLI::App app{"vmail-milter: the From: header of mail from a login must be one of the login's addresses",
               "vmail-milter"};
  app.set_version_flag("--version", std::string(VMAIL_VERSION));
  vmail::MilterOptions options;
  bool verbose = false;
  app.add_option("--socket", options.socket, "unix socket Postfix connects to")->required();
  app.add_option("--sender-logins", options.sender_logins, "the exported sender_logins file")->required();
  app.add_option("--user", options.user, "user to run as when started as root (default postfix)")
      ->default_val("postfix");
  app.add_flag("-v,--verbose", verbose, "debug output");
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::fprintf(stderr, "vmail-milter: %s (see vmail-milter --help)\n", e.what());
    return static_cast<int>(vmail::Code::kUsage);
  }
  // Lines go to stderr; under vmail-launch each gets the "vmail-milter: " prefix.
  auto logger = spdlog::stderr_logger_mt("vmail-milter");
  logger->set_pattern("%l: %v");
  logger->set_level(verbose ? spdlog::level::debug : spdlog::level::info);
  logger->flush_on(spdlog::level::trace);
  spdlog::set_default_logger(logger);
  try {
    return vmail::run_milter(options);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "vmail-milter: internal error: %s\n", e.what());
    return static_cast<int>(vmail::Code::kInternal);
  }
}
