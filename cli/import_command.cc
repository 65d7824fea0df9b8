// `vmail user import` and `vmail alias import` (SPEC "Batch import").
#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <thread>

#include "cli/app.h"
#include "core/files.h"
#include "import/import.h"

namespace vmail::cli {
namespace {

using json = nlohmann::ordered_json;

// Bad rows printed on stderr before the rest are only counted.
constexpr size_t kMaxReported = 100;

struct ImportArgs {
  std::string file;
  std::string format = "csv";
  bool dry_run = false;
  std::string on_existing = "fail";
  unsigned jobs = 0;
  bool reuse_maildirs = false;
};

// The largest import read. An import is all or nothing: every row is checked
// (and every password hashed) before the first write, so the file and its
// parsed rows are held in memory at once, about three times the file's size.
// 256 MiB is over a million and a half rows of 150 bytes, fifteen times the
// 100k users the README measures; a bigger input is refused (65) before it
// is read whole, so a wrong path (a disk image, /dev/zero) cannot exhaust
// the memory of the mail server it runs on.
constexpr size_t kMaxImportFile = size_t{256} << 20;

// Reads the whole input: a file, or standard input for "-". 66 when the file
// cannot be opened, 65 over kMaxImportFile.
Result<std::string> read_input(const std::string& path) {
  int fd = path == "-" ? STDIN_FILENO : ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Status(Code::kNoInput, path + ": " + std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
    ::close(fd);
    return Status(Code::kNoInput, path + ": is a folder, not a file");
  }
  auto data = read_fd_limited(fd, path == "-" ? "<stdin>" : path, kMaxImportFile);
  if (fd != STDIN_FILENO) ::close(fd);
  if (!data.ok() && data.status().code() != Code::kBadInput) {
    return Status(Code::kIoError, data.status().message());
  }
  return data;
}

// A one-line progress bar on stderr: stage, done/total, rate and ETA.
class ProgressBar {
 public:
  void update(std::string_view stage, size_t done, size_t total) {
    auto now = std::chrono::steady_clock::now();
    if (stage != stage_) {
      finish();
      stage_ = stage;
      start_ = now;
    }
    double secs = std::chrono::duration<double>(now - start_).count();
    double rate = secs > 0 ? static_cast<double>(done) / secs : 0;
    constexpr int kWidth = 30;
    int filled = total == 0 ? kWidth : static_cast<int>(kWidth * done / total);
    std::string bar(static_cast<size_t>(filled), '#');
    bar.resize(kWidth, '.');
    char eta[32] = "--";
    if (rate > 0 && done < total) {
      std::snprintf(eta, sizeof eta, "%.0fs", static_cast<double>(total - done) / rate);
    } else if (done == total) {
      std::snprintf(eta, sizeof eta, "done in %.1fs", secs);
    }
    std::fprintf(stderr, "\r%-8s [%s] %zu/%zu  %.0f/s  ETA %s\033[K", std::string(stage).c_str(), bar.c_str(), done,
                 total, rate, eta);
    std::fflush(stderr);
    shown_ = true;
  }
  void finish() {
    if (shown_) std::fputc('\n', stderr);
    shown_ = false;
  }

 private:
  std::string stage_;
  std::chrono::steady_clock::time_point start_;
  bool shown_ = false;
};

#ifdef VMAIL_TEST_HOOKS
// Only in the test-only program vmail-testhooks (never installed): the
// "killed while writing" test holds the open write transaction for
// VMAIL_TEST_PAUSE_BEFORE_COMMIT seconds before the commit.
void add_test_hooks(ImportOptions& options) {
  const char* pause = std::getenv("VMAIL_TEST_PAUSE_BEFORE_COMMIT");
  if (pause == nullptr) return;
  int seconds = std::atoi(pause);
  options.before_commit = [seconds] {
    std::fprintf(stderr, "vmail: test: paused before commit\n");
    std::fflush(stderr);
    std::this_thread::sleep_for(std::chrono::seconds(seconds));
  };
}
#else
void add_test_hooks(ImportOptions&) {}
#endif

Status run_import(Context& ctx, const ImportArgs& args, bool users) {
  ImportOptions options;
  if (args.format == "dms") options.format = ImportFormat::kDms;
  options.dry_run = args.dry_run;
  options.on_existing = args.on_existing == "skip"     ? OnExisting::kSkip
                        : args.on_existing == "update" ? OnExisting::kUpdate
                                                       : OnExisting::kFail;
  options.jobs = args.jobs;
  options.reuse_maildirs = args.reuse_maildirs;
  ProgressBar bar;
  if (!ctx.quiet && isatty(STDERR_FILENO)) {
    options.progress = [&bar](std::string_view stage, size_t done, size_t total) { bar.update(stage, done, total); };
  }
  add_test_hooks(options);

  const std::string name = args.file == "-" ? "<stdin>" : args.file;
  options.actor = ctx.actor();
  options.source_name = name;
  auto data = read_input(args.file);
  if (!data.ok()) return data.status();
  auto settings = ctx.settings();
  if (!settings.ok()) return settings.status();
  auto db = ctx.database();
  if (!db.ok()) return db.status();
  auto report = users ? import_users(**db, **settings, *data, options) : import_aliases(**db, *data, options);
  bar.finish();
  if (!report.ok()) return report.status();

  for (const LineError& w : report->warnings) spdlog::warn("{}:{}: {}", name, w.line, w.reason);
  const auto& errors = report->errors;
  for (size_t i = 0; i < errors.size() && i < kMaxReported; ++i) {
    std::fprintf(stderr, "%s:%zu: %s\n", name.c_str(), errors[i].line, errors[i].reason.c_str());
  }
  if (errors.size() > kMaxReported) {
    std::fprintf(stderr, "%s: ... and %zu more bad rows\n", name.c_str(), errors.size() - kMaxReported);
  }
  const char* what = users ? "users" : "aliases";
  if (ctx.json) {
    json errs = json::array();
    for (size_t i = 0; i < errors.size() && i < kMaxReported; ++i) {
      errs.push_back(json{{"line", errors[i].line}, {"reason", errors[i].reason}});
    }
    print_json(json{{"file", name},
                    {"kind", what},
                    {"dry_run", args.dry_run},
                    {"written", report->written},
                    {"created", report->created},
                    {"updated", report->updated},
                    {"skipped", report->skipped},
                    {"error_count", errors.size()},
                    {"errors", errs}});
  }
  if (!errors.empty()) {
    return Status(Code::kBadInput, name + ": " + std::to_string(errors.size()) +
                                       (errors.size() == 1 ? " bad row" : " bad rows") + ", nothing imported");
  }
  std::string counts = std::to_string(report->created) + " created, " + std::to_string(report->updated) + " updated, " +
                       std::to_string(report->skipped) + " skipped";
  if (args.dry_run) {
    print_line(ctx, std::string("dry run: ") + name + " is good (" + counts + "); nothing written");
    return Status::Ok();
  }
  print_line(ctx, std::string(what) + " imported from " + name + ": " + counts);
  if (!report->written) return Status::Ok();
  return ctx.export_after_change();
}

}  // namespace

void add_import_command(CLI::App& group, Context& ctx, ImportKind kind) {
  const bool users = kind == ImportKind::kUsers;
  auto* cmd = group.add_subcommand("import", users ? "add users from a CSV or docker-mailserver file"
                                                   : "add aliases from a CSV or docker-mailserver file");
  auto* a = ctx.keep<ImportArgs>();
  cmd->add_option("FILE", a->file, "the file, or - for standard input")->required();
  cmd->add_option("--format", a->format,
                  users ? "csv, or dms for docker-mailserver's postfix-accounts.cf"
                        : "csv, or dms for docker-mailserver's postfix-virtual.cf")
      ->check(CLI::IsMember({"csv", "dms"}));
  cmd->add_flag("--dry-run", a->dry_run, "check every row, write nothing");
  if (users) {
    cmd->add_option("--on-existing", a->on_existing, "an existing user is an error (fail), left alone, or updated")
        ->check(CLI::IsMember({"fail", "skip", "update"}));
    cmd->add_option("--jobs", a->jobs, "checking and hashing threads (default: all cores)")
        ->check(CLI::Range(1u, 1024u));
    cmd->add_flag("--reuse-maildirs", a->reuse_maildirs, "a new user may inherit mail left in its old maildir");
  }
  cmd->callback([&ctx, a, users] { ctx.action = [&ctx, a, users] { return run_import(ctx, *a, users); }; });
}

}  // namespace vmail::cli
