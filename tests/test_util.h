// Small helpers shared by the unit tests.
#pragma once

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <memory>
#include <string>

#include "core/database.h"
#include "core/store.h"

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

// A migrated database in a temp folder with the domain example.com.
class StoreFixture : public ::testing::Test {
 protected:
  void SetUp() override {
    auto db = Database::open_migrated(dir_.path() + "/vmail.db");
    ASSERT_TRUE(db.ok()) << db.status().message();
    db_ = std::move(*db);
    store_ = std::make_unique<Store>(*db_);
    ASSERT_TRUE(store_->add_domain("example.com").ok());
  }

  TempDir dir_;
  std::unique_ptr<Database> db_;
  std::unique_ptr<Store> store_;
};

}  // namespace vmail::testing
