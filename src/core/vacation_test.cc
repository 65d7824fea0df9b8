// The vacation script is the record `user show` reads back from a home the
// vmail uid can write: it parses exactly what vmail wrote, nothing else.
#include "core/vacation.h"

#include <gtest/gtest.h>

namespace vmail {
namespace {

TEST(VacationTest, ScriptRoundTrips) {
  for (const VacationSettings& s : {
           VacationSettings{"Out of office", "Back on Monday.\n", ""},
           VacationSettings{"Away \"till\" \\ later", "Line 1\r\n\tLine \"2\" \\\n", "2099-12-31"},
           VacationSettings{"Zoë — 休暇", "Bin im Urlaub.", "2028-02-29"},
       }) {
    ASSERT_TRUE(check_vacation(s).ok()) << s.subject;
    auto back = parse_vacation_script(vacation_script(s));
    ASSERT_TRUE(back.has_value()) << vacation_script(s);
    EXPECT_EQ(*back, s);
  }
}

TEST(VacationTest, RefusesScriptsVmailDidNotWrite) {
  std::string good = vacation_script({"Away", "Gone.", ""});
  std::string dated = vacation_script({"Away", "Gone.", "2099-01-02"});
  const std::string hostile[] = {
      "",
      "require \"vacation\";\nvacation :days 7 :subject \"Away\" \"Gone.\";\n",  // no header
      good + "redirect \"evil@example.org\";\n",                                 // a second action
      good.substr(0, good.size() - 1),                                           // cut short
      good.substr(0, good.size() - 4),                                           // cut inside the string
      std::string(good).replace(good.find(":days 7"), 7, ":days 1"),
      std::string(good).replace(good.find("Away"), 4, "A\x01y"),  // a control character
      std::string(dated).replace(dated.find("2099-01-02"), 10, "2099-02-30"),
      std::string(dated).replace(dated.find("2099-01-02"), 10, "tomorrow!!"),
      vacation_script({"", "Gone.", ""}),                     // empty subject
      vacation_script({std::string(201, 's'), "Gone.", ""}),  // subject too long
      vacation_script({"Away", std::string(kMaxVacationMessage + 1, 'm'), ""}),
      std::string(kMaxVacationScript + 1, '#'),
  };
  for (const std::string& text : hostile) {
    EXPECT_FALSE(parse_vacation_script(text).has_value()) << text.substr(0, 200);
  }
}

TEST(VacationTest, CheckNamesTheField) {
  struct Case {
    VacationSettings s;
    const char* field;
  };
  const Case cases[] = {
      {{"", "m", ""}, "--subject"},
      {{"a\nb", "m", ""}, "--subject"},
      {{std::string(201, 'x'), "m", ""}, "--subject"},
      {{"s", "", ""}, "--message-file"},
      {{"s", "bell\a", ""}, "--message-file"},
      {{"s", std::string(kMaxVacationMessage + 1, 'm'), ""}, "--message-file"},
      {{"s", "m", "2025-13-01"}, "--until"},
      {{"s", "m", "2025-02-29"}, "--until"},
      {{"s", "m", "25-01-01"}, "--until"},
  };
  for (const Case& c : cases) {
    Status st = check_vacation(c.s, "msg.txt");
    EXPECT_EQ(st.code(), Code::kBadInput) << c.field;
    EXPECT_EQ(st.message().rfind(c.field, 0), 0u) << st.message();
  }
}

}  // namespace
}  // namespace vmail
