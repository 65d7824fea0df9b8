// Hashes from libxcrypt, verified by Dovecot's own `doveadm pw -t`.
#include "core/password.h"

#include <gtest/gtest.h>

#include <algorithm>

#include "core/process.h"

namespace vmail {
namespace {

bool doveadm_accepts(const std::string& hash, const std::string& password) {
  auto r = run_process({"doveadm", "pw", "-t", hash, "-p", password});
  EXPECT_TRUE(r.ok()) << r.status().message();
  return r.ok() && r->exit_code == 0;
}

class SchemeTest : public ::testing::TestWithParam<Scheme> {};

TEST_P(SchemeTest, DovecotVerifiesOurHash) {
  const std::string password = "correct horse battery staple";
  auto hash = hash_password(password, GetParam());
  ASSERT_TRUE(hash.ok()) << hash.status().message();
  EXPECT_TRUE(doveadm_accepts(*hash, password)) << *hash;
  EXPECT_FALSE(doveadm_accepts(*hash, "wrong password")) << *hash;
  EXPECT_TRUE(verify_password(password, *hash));
  EXPECT_FALSE(verify_password("wrong password", *hash));
}

TEST_P(SchemeTest, SaltsDiffer) {
  auto a = hash_password("same password", GetParam());
  auto b = hash_password("same password", GetParam());
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_NE(*a, *b);
}

INSTANTIATE_TEST_SUITE_P(AllSchemes, SchemeTest,
                         ::testing::Values(Scheme::kSha512Crypt, Scheme::kBlfCrypt, Scheme::kYescrypt),
                         [](const ::testing::TestParamInfo<Scheme>& p) {
                           std::string name(scheme_name(p.param));
                           name.erase(std::remove(name.begin(), name.end(), '-'), name.end());
                           return name;
                         });

TEST(PasswordHashTest, Prefixes) {
  EXPECT_EQ(hash_password("password1", Scheme::kSha512Crypt)->rfind("{SHA512-CRYPT}$6$", 0), 0u);
  EXPECT_EQ(hash_password("password1", Scheme::kBlfCrypt)->rfind("{BLF-CRYPT}$2b$05$", 0), 0u);
  EXPECT_EQ(hash_password("password1", Scheme::kYescrypt)->rfind("{CRYPT}$y$", 0), 0u);
}

TEST(PasswordHashTest, RefusesWhatCryptRefuses) {
  EXPECT_FALSE(hash_password(std::string(512, 'x'), Scheme::kSha512Crypt).ok());
  EXPECT_FALSE(hash_password(std::string("a\0b", 3), Scheme::kSha512Crypt).ok());
}

TEST(PasswordHashTest, ParseScheme) {
  EXPECT_EQ(*parse_scheme("sha512-crypt"), Scheme::kSha512Crypt);
  EXPECT_EQ(*parse_scheme("BLF-CRYPT"), Scheme::kBlfCrypt);
  EXPECT_EQ(*parse_scheme("yescrypt"), Scheme::kYescrypt);
  auto bad = parse_scheme("MD5");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), Code::kConfig);
}

}  // namespace
}  // namespace vmail
