// Running helper programs (postmap, postfix, doveconf, openssl) with an
// argument vector and a clean environment, never through a shell.
#pragma once

#include <sys/types.h>

#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace vmail {

struct ProcessResult {
  int exit_code = -1;  // exit status, or 128 + signal
  std::string output;  // stdout and stderr together
};

// Runs argv[0] (looked up in a fixed PATH) with `env` as its whole environment
// (PATH is added when missing) and waits for it. Fails only when the program
// cannot be started; a non-zero exit is reported in the result.
Result<ProcessResult> run_process(const std::vector<std::string>& argv, const std::vector<std::string>& env = {});

// As run_process, with `input` as the program's standard input.
Result<ProcessResult> run_process_with_input(const std::vector<std::string>& argv, std::string_view input);

// The PATH given to children.
extern const char* const kSafePath;

// The executable `program` names: itself when it contains a '/', else the
// first executable file of that name in kSafePath. kConfig naming the program
// when there is none.
Result<std::string> find_program(const std::string& program);

// How spawn_program wires a child's standard files (-1: stdin from
// /dev/null, stdout/stderr shared with us) and whether it gets a process
// group of its own (so a terminal's Ctrl-C reaches only us).
struct SpawnOptions {
  int stdin_fd = -1;
  int stdout_fd = -1;
  int stderr_fd = -1;
  bool own_process_group = false;
};

// Starts argv[0] (found with find_program) with `env` as its whole
// environment, an empty signal mask and default signal dispositions, and
// returns its pid without waiting; the caller reaps it. kConfig naming the
// program when it cannot be started. The caller's descriptors should be
// close-on-exec: only the ones in `options` are passed on.
Result<pid_t> spawn_program(const std::vector<std::string>& argv, const std::vector<std::string>& env,
                            const SpawnOptions& options);

}  // namespace vmail
