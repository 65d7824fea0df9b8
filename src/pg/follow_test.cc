#include "pg/follow.h"

#include <gtest/gtest.h>

#include "core/audit.h"

namespace vmail::pg {
namespace {

TEST(FollowerStatus, RoundTrips) {
  FollowerStatus s{42, false, 1796106000, 1796106005, "PostgreSQL 127.0.0.1:5432/vmail: unreachable"};
  std::string json = follower_status_json(s);
  EXPECT_EQ(json,
            "{\"seq\":42,\"upstream\":\"unreachable\",\"since\":\"2026-12-01T06:20:00Z\","
            "\"updated\":\"2026-12-01T06:20:05Z\",\"error\":\"PostgreSQL 127.0.0.1:5432/vmail: unreachable\"}\n");
  auto back = parse_follower_status(json);
  ASSERT_TRUE(back.ok()) << back.status().message();
  EXPECT_EQ(back->seq, 42);
  EXPECT_FALSE(back->upstream_ok);
  EXPECT_EQ(back->since, s.since);
  EXPECT_EQ(back->updated, s.updated);
  EXPECT_EQ(back->error, s.error);
}

TEST(FollowerStatus, NoErrorFieldWhenHealthy) {
  std::string json = follower_status_json({7, true, 0, 0, ""});
  EXPECT_EQ(json.find("error"), std::string::npos);
  ASSERT_TRUE(parse_follower_status(json).ok());
  EXPECT_TRUE(parse_follower_status(json)->upstream_ok);
}

TEST(FollowerStatus, RefusesHostileStatus) {
  const char* bad[] = {
      "",
      "[]",
      "{\"seq\":\"1\",\"upstream\":\"ok\",\"since\":\"2026-12-01T06:20:00Z\",\"updated\":\"2026-12-01T06:20:00Z\"}",
      "{\"seq\":1,\"upstream\":\"maybe\",\"since\":\"2026-12-01T06:20:00Z\",\"updated\":\"2026-12-01T06:20:00Z\"}",
      "{\"seq\":1,\"upstream\":\"ok\",\"since\":\"yesterday\",\"updated\":\"2026-12-01T06:20:00Z\"}",
      "{\"seq\":1,\"upstream\":\"ok\",\"since\":\"2026-12-01T06:20:00Z\"}",
      "{\"seq\":1,\"upstream\":\"ok\",\"since\":\"2026-12-01T06:20:00Z\",\"updated\":\"2026-12-01T06:20:00Zx\"}",
      "{\"seq\":1,\"upstream\":\"ok\",\"since\":\"2026-12-01T06:20:00Z\",\"updated\":\"2026-12-01T06:20:00Z\","
      "\"error\":3}",
  };
  for (const char* text : bad) EXPECT_FALSE(parse_follower_status(text).ok()) << text;
}

TEST(SettingsFile, ReadsKnownKeys) {
  auto v = parse_settings_file("f.conf", "# comment\n\nVMAIL_DB=postgresql://h/db\nVMAIL_DB_PASSWORD_FILE=\n",
                               {"VMAIL_DB", "VMAIL_DB_PASSWORD_FILE"});
  ASSERT_TRUE(v.ok()) << v.status().message();
  EXPECT_EQ(v->at("VMAIL_DB"), "postgresql://h/db");
  EXPECT_EQ(v->at("VMAIL_DB_PASSWORD_FILE"), "");
}

TEST(SettingsFile, RefusesHostileLines) {
  struct Case {
    const char* text;
    const char* message;
  } cases[] = {
      {"VMAIL_DB=a\nVMAIL_DB=b\n", "f.conf:2: VMAIL_DB given twice"},
      {"VMAIL_DB_PASSWORD=secret\n", "f.conf:1: unknown setting \"VMAIL_DB_PASSWORD\""},
      {"VMAIL_DB\n", "f.conf:1: not KEY=VALUE"},
      {" VMAIL_DB=a\n", "f.conf:1: unknown setting \" VMAIL_DB\""},
  };
  for (const auto& c : cases) {
    auto v = parse_settings_file("f.conf", c.text, {"VMAIL_DB"});
    ASSERT_FALSE(v.ok()) << c.text;
    EXPECT_EQ(v.status().code(), Code::kConfig);
    EXPECT_EQ(v.status().message(), c.message);
  }
}

TEST(UtcTime, ParsesOnlyItsOwnFormat) {
  EXPECT_EQ(parse_utc_time(format_utc(1796106000)), 1796106000);
  EXPECT_FALSE(parse_utc_time("2026-12-01 06:20:00"));
  EXPECT_FALSE(parse_utc_time("2026-12-01T06:20:00+01:00"));
}

}  // namespace
}  // namespace vmail::pg
