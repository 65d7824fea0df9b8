// Reading a password for `user add` and `user passwd` (SPEC "Addresses and
// passwords"): never from the command line.
#pragma once

#include <string>

#include "core/status.h"

namespace vmail::cli {

// Reads a password: `from_stdin` reads one line from standard input;
// otherwise prompts twice on the terminal with echo off. kBadInput when
// nothing is entered or the two entries differ; kUsage when standard input is
// not a terminal.
//
// While the prompt is up, SIGINT, SIGTERM and SIGHUP restore the terminal
// (echo back on) and then end the process by that same signal, so a shell
// sees the usual 128+N status (130 for Ctrl-C). A signal ignored when the
// prompt starts stays ignored. Not thread-safe: one prompt at a time.
Result<std::string> read_password(bool from_stdin);

}  // namespace vmail::cli
