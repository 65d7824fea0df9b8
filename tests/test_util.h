// Small helpers shared by the unit tests.
#pragma once

#include <stdlib.h>

#include <filesystem>
#include <string>

namespace vmail::testing {

// A temp folder removed with everything below it at scope exit.
class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/vmail-unit-XXXXXX";
    path_ = mkdtemp(tmpl);
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

}  // namespace vmail::testing
