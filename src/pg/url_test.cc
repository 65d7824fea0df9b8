// pg::check_url (issue 22): what libpq would read from a URL decides, not a
// substring search; hostile spellings of a password and remote servers
// without verified TLS are refused before anything connects.
#include "pg/url.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace vmail::pg {
namespace {

const EnvReader kNoEnv = map_env({});

TEST(UrlTest, GoodUrlsPass) {
  for (std::string url : {
           "postgresql://vmail@127.0.0.1:5432/vmail",
           "postgresql://vmail@localhost/vmail",
           "postgresql://vmail@LOCALHOST/vmail",
           "postgres://vmail@127.8.9.10/vmail?sslmode=disable",
           "postgresql://vmail@[::1]:5433/vmail",
           "postgresql://vmail@[::ffff:127.0.0.1]/vmail",
           "postgresql:///vmail",
           "postgresql:///vmail?host=/run/postgresql",
           "postgresql://%2Frun%2Fpostgresql/vmail",
           "postgresql://vmail@db.example/vmail?sslmode=verify-full&sslrootcert=/etc/ssl/ca.crt",
           "postgresql://vmail@192.0.2.1/vmail?sslmode=verify-ca",
           "postgresql://vmail@db.example/vmail?hostaddr=127.0.0.1",  // connects to the loopback address
           "postgresql://vmail@localhost,127.0.0.2/vmail",
           "postgresql://vmail@db.example/vmail?passfile=/etc/vmail/pgpass&sslmode=verify-full",
       }) {
    Status s = check_url(url, "VMAIL_DB", kNoEnv);
    EXPECT_TRUE(s.ok()) << url << ": " << s.message();
  }
}

TEST(UrlTest, PasswordsInAnySpellingAreRefused) {
  for (std::string url : {
           "postgresql://vmail:hunter2secret@127.0.0.1/vmail",
           "postgres://:hunter2secret@127.0.0.1/vmail",
           "postgresql://vmail:@127.0.0.1/vmail?password=hunter2secret",
           "postgresql://127.0.0.1/vmail?password=hunter2secret",
           "postgresql://127.0.0.1/vmail?sslmode=disable&password=hunter2secret",
           "postgresql://vmail@127.0.0.1/vmail?pass%77ord=hunter2secret",  // the key percent-encoded
           "postgresql://vmail@127.0.0.1/vmail?%70assword=hunter2secret",
           "postgresql://vmail@127.0.0.1/vmail?password=hunter2%73ecret",  // the value too
           "postgresql://vmail%3Ax@127.0.0.1/vmail?password=hunter2secret",
           "postgresql://vmail@127.0.0.1/vmail?sslpassword=hunter2secret",  // the client key's pass phrase
           "postgresql://vmail:hunter2%40secret@127.0.0.1/vmail",
       }) {
    Status s = check_url(url, "VMAIL_DB", kNoEnv);
    ASSERT_FALSE(s.ok()) << url;
    EXPECT_EQ(s.code(), Code::kConfig) << url;
    EXPECT_EQ(s.message().rfind("VMAIL_DB: ", 0), 0u) << s.message();
    EXPECT_NE(s.message().find("password"), std::string::npos) << s.message();
    EXPECT_EQ(s.message().find("hunter2"), std::string::npos) << s.message();
  }
}

TEST(UrlTest, UnparsableUrlsAreRefusedWithoutQuotingThem) {
  for (std::string url : {
           "postgresql://vmail@127.0.0.1/vmail?password=hunter2%zz",
           "postgresql://vmail@127.0.0.1/vmail?hunter2secret",
           "postgresql://vmail@127.0.0.1/vmail?nosuchoption=hunter2secret",
           "postgresql://vmail@[::1/vmail?x=hunter2secret",
           "postgresql://vmail@127.0.0.1/vmail?password=hunter2%00secret",
           "postgresql://127.0.0.1/vmail hunter2secret",
           "postgresql://127.0.0.1/vmail\n?password=hunter2secret",
       }) {
    Status s = check_url(url, "VMAIL_DB", kNoEnv);
    ASSERT_FALSE(s.ok()) << url;
    EXPECT_EQ(s.code(), Code::kConfig) << url;
    EXPECT_EQ(s.message().find("hunter2"), std::string::npos) << s.message();
    EXPECT_EQ(s.message().find('\n'), std::string::npos) << s.message();
  }
}

TEST(UrlTest, RemoteServerWithoutVerifiedTlsIsRefused) {
  struct Case {
    std::string url;
    std::string names;  // what the one line names
  };
  for (const Case& c : std::vector<Case>{
           {"postgresql://vmail@192.0.2.1/vmail", "host 192.0.2.1"},
           {"postgresql://vmail@db.example:5432/vmail", "host db.example"},
           {"postgresql://vmail@db.example/vmail?sslmode=require", "sslmode is require"},
           {"postgresql://vmail@db.example/vmail?sslmode=prefer", "sslmode is prefer"},
           {"postgresql://vmail@[2001:db8::1]/vmail?sslmode=disable", "host 2001:db8::1"},
           {"postgresql://vmail@localhost.example/vmail", "host localhost.example"},
           {"postgresql://vmail@128.0.0.1/vmail", "host 128.0.0.1"},
           {"postgresql://vmail@[::2]/vmail", "host ::2"},
           {"postgresql://vmail@localhost/vmail?hostaddr=192.0.2.1", "hostaddr 192.0.2.1"},
           {"postgresql://vmail@127.0.0.1,192.0.2.7/vmail", "host 192.0.2.7"},
           {"postgresql:///vmail?host=192.0.2.1", "host 192.0.2.1"},
           {"postgresql:///vmail?hostaddr=192.0.2.1", "hostaddr 192.0.2.1"},
           {"postgresql://vmail@192.0.2.1/vmail?sslmode=verify-fulll", "host 192.0.2.1"},
       }) {
    Status s = check_url(c.url, "VMAIL_DB", kNoEnv);
    ASSERT_FALSE(s.ok()) << c.url;
    EXPECT_EQ(s.code(), Code::kConfig) << c.url;
    EXPECT_EQ(s.message().rfind("VMAIL_DB: ", 0), 0u) << s.message();
    EXPECT_NE(s.message().find(c.names), std::string::npos) << s.message();
    EXPECT_NE(s.message().find("sslmode=verify-full"), std::string::npos) << s.message();
    EXPECT_EQ(s.message().find('\n'), std::string::npos) << s.message();
  }
}

// What the URL leaves out, libpq takes from its environment.
TEST(UrlTest, LibpqEnvironmentCounts) {
  EXPECT_FALSE(check_url("postgresql:///vmail", "VMAIL_DB", map_env({{"PGHOST", "192.0.2.1"}})).ok());
  EXPECT_FALSE(check_url("postgresql:///vmail", "VMAIL_DB", map_env({{"PGHOSTADDR", "192.0.2.1"}})).ok());
  EXPECT_TRUE(
      check_url("postgresql:///vmail", "VMAIL_DB", map_env({{"PGHOST", "192.0.2.1"}, {"PGSSLMODE", "verify-full"}}))
          .ok());
  // The URL wins over the environment.
  EXPECT_TRUE(check_url("postgresql://127.0.0.1/vmail", "VMAIL_DB", map_env({{"PGHOST", "192.0.2.1"}})).ok());
  EXPECT_FALSE(
      check_url("postgresql://192.0.2.1/vmail?sslmode=require", "VMAIL_DB", map_env({{"PGSSLMODE", "verify-full"}}))
          .ok());
}

TEST(UrlTest, NameStartsTheLine) {
  Status s = check_url("postgresql://u:pw@127.0.0.1/db", "db migrate-to URL", kNoEnv);
  EXPECT_EQ(s.message().rfind("db migrate-to URL: ", 0), 0u) << s.message();
}

}  // namespace
}  // namespace vmail::pg
