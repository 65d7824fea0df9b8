#include "core/process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace vmail {

const char* const kSafePath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

Result<std::string> find_program(const std::string& program) {
  if (program.find('/') != std::string::npos) return program;
  std::string_view path = kSafePath;
  while (true) {
    size_t end = path.find(':');
    std::string candidate = std::string(path.substr(0, end)) + "/" + program;
    if (access(candidate.c_str(), X_OK) == 0) return candidate;
    if (end == std::string_view::npos) break;
    path.remove_prefix(end + 1);
  }
  return Status(Code::kConfig, program + ": program not found in " + kSafePath);
}

Result<pid_t> spawn_program(const std::vector<std::string>& argv, const std::vector<std::string>& env,
                            const SpawnOptions& options) {
  if (argv.empty()) return Status(Code::kInternal, "spawn: empty argument vector");
  auto program = find_program(argv[0]);
  if (!program.ok()) return program.status();
  std::vector<char*> cargv;
  for (const auto& a : argv) cargv.push_back(const_cast<char*>(a.c_str()));
  cargv.push_back(nullptr);
  std::vector<char*> cenv;
  for (const auto& e : env) cenv.push_back(const_cast<char*>(e.c_str()));
  cenv.push_back(nullptr);

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  if (options.stdin_fd >= 0) {
    posix_spawn_file_actions_adddup2(&actions, options.stdin_fd, 0);
  } else {
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  }
  if (options.stdout_fd >= 0) posix_spawn_file_actions_adddup2(&actions, options.stdout_fd, 1);
  if (options.stderr_fd >= 0) posix_spawn_file_actions_adddup2(&actions, options.stderr_fd, 2);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  // We block the signals we wait for and ignore SIGPIPE; a child starts
  // with neither.
  sigset_t none;
  sigemptyset(&none);
  posix_spawnattr_setsigmask(&attr, &none);
  sigset_t all;
  sigfillset(&all);
  sigdelset(&all, SIGKILL);
  sigdelset(&all, SIGSTOP);
  posix_spawnattr_setsigdefault(&attr, &all);
  short flags = POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF;
  if (options.own_process_group) {
    posix_spawnattr_setpgroup(&attr, 0);
    flags |= POSIX_SPAWN_SETPGROUP;
  }
  posix_spawnattr_setflags(&attr, flags);
  pid_t pid = 0;
  int rc = posix_spawn(&pid, program->c_str(), &actions, &attr, cargv.data(), cenv.data());
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  if (rc != 0) return Status(Code::kConfig, *program + ": cannot start: " + std::strerror(rc));
  return pid;
}

namespace {

// Runs argv with `stdin_fd` (or /dev/null when -1) as standard input.
Result<ProcessResult> spawn_and_wait(const std::vector<std::string>& argv, const std::vector<std::string>& env,
                                     int stdin_fd) {
  int pipefd[2];
  if (pipe2(pipefd, O_CLOEXEC) != 0) return Status(Code::kInternal, std::string("pipe: ") + std::strerror(errno));
  std::vector<std::string> envs = env;
  bool has_path = false;
  for (const auto& e : envs) has_path = has_path || e.rfind("PATH=", 0) == 0;
  if (!has_path) envs.push_back(std::string("PATH=") + kSafePath);
  auto pid = spawn_program(argv, envs, SpawnOptions{stdin_fd, pipefd[1], pipefd[1], false});
  close(pipefd[1]);
  if (!pid.ok()) {
    close(pipefd[0]);
    return pid.status();
  }
  ProcessResult result;
  char buf[4096];
  while (true) {
    ssize_t n = read(pipefd[0], buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    result.output.append(buf, static_cast<size_t>(n));
  }
  close(pipefd[0]);
  int status = 0;
  while (waitpid(*pid, &status, 0) < 0) {
    if (errno != EINTR) return Status(Code::kInternal, std::string("waitpid: ") + std::strerror(errno));
  }
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return result;
}

}  // namespace

Result<ProcessResult> run_process(const std::vector<std::string>& argv, const std::vector<std::string>& env) {
  return spawn_and_wait(argv, env, -1);
}

Result<ProcessResult> run_process_with_input(const std::vector<std::string>& argv, std::string_view input) {
  // An anonymous in-memory file: no temp file on disk, and no writer thread
  // racing the child for a pipe.
  int fd = memfd_create("vmail-input", MFD_CLOEXEC);
  if (fd < 0) return Status(Code::kInternal, std::string("memfd_create: ") + std::strerror(errno));
  size_t done = 0;
  while (done < input.size()) {
    ssize_t n = write(fd, input.data() + done, input.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      int err = errno;
      close(fd);
      return Status(Code::kIoError, std::string("writing a program's input: ") + std::strerror(err));
    }
    done += static_cast<size_t>(n);
  }
  lseek(fd, 0, SEEK_SET);
  auto result = spawn_and_wait(argv, {}, fd);
  close(fd);
  return result;
}

}  // namespace vmail
