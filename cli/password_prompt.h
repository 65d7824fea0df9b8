// Reading a password for `user add` and `user passwd` (SPEC "Addresses and
// passwords"): never from the command line.
#pragma once

#include <cstddef>
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

// The longest line a password or a hash is read from on standard input
// (--password-stdin, --hash-stdin): far above any valid one (511 bytes).
constexpr size_t kMaxSecretLine = 4096;

// Reads one line from standard input, without its "\n" (or "\r\n"). kBadInput
// "FIELD: nothing on standard input" at once at end of input, and "FIELD: the
// line ... is longer than 4 KiB" once more than `max_bytes` come before the
// line break (the rest is not read). Never quotes what it read.
Result<std::string> read_stdin_line(const std::string& field, size_t max_bytes);

}  // namespace vmail::cli
