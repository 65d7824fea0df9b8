// check_hash at depth: per scheme, good hashes made with known passwords
// (libxcrypt for the crypt(3) schemes, `doveadm pw -s` for Dovecot's own) that
// Dovecot verifies with `doveadm pw -t`, and hostile ones that must be refused
// with one line naming the field and the reason.
#include <crypt.h>
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "core/password.h"
#include "core/process.h"
#include "core/validate.h"

namespace vmail {
namespace {

struct Good {
  std::string hash;
  std::string password;
};

std::string crypt_with(const std::string& setting, const std::string& password) {
  auto data = std::make_unique<crypt_data>();
  const char* out = crypt_rn(password.c_str(), setting.c_str(), data.get(), sizeof(crypt_data));
  EXPECT_TRUE(out != nullptr && out[0] != '*') << setting;
  return out == nullptr ? "" : out;
}

std::string gensalt(const char* prefix, unsigned long count) {
  char setting[CRYPT_GENSALT_OUTPUT_SIZE];
  const char* s = crypt_gensalt_rn(prefix, count, nullptr, 0, setting, sizeof setting);
  EXPECT_NE(s, nullptr) << prefix << count;
  return s == nullptr ? "" : s;
}

std::string password_for(int i) { return "pass word " + std::to_string(i) + " \xc3\xa4\xc3\xb6"; }

std::string doveadm_hash(const std::string& scheme, const std::string& password) {
  auto r = run_process({"doveadm", "pw", "-s", scheme, "-p", password});
  EXPECT_TRUE(r.ok() && r->exit_code == 0) << scheme;
  if (!r.ok()) return "";
  std::string out = r->output;
  while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
  return out;
}

bool doveadm_verifies(const Good& g) {
  auto r = run_process({"doveadm", "pw", "-t", g.hash, "-p", g.password});
  return r.ok() && r->exit_code == 0;
}

std::vector<Good> good_hashes(const std::string& scheme) {
  std::vector<Good> out;
  const std::string salts = "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
  for (int i = 0; i < 20; ++i) {
    std::string pw = password_for(i);
    if (scheme == "SHA512-CRYPT") {
      // Salts of 1-16 characters, default and explicit rounds.
      std::string setting = "$6$";
      if (i % 3 == 1) setting += "rounds=" + std::to_string(1000 + i * 500) + "$";
      setting += salts.substr(static_cast<size_t>(i) * 3 % 48, static_cast<size_t>(i % 16) + 1);
      out.push_back({"{SHA512-CRYPT}" + crypt_with(setting, pw), pw});
    } else if (scheme == "BLF-CRYPT") {
      static const char* const kPrefixes[] = {"$2b$", "$2a$", "$2y$"};
      std::string setting = gensalt(kPrefixes[i % 3], 4 + static_cast<unsigned long>(i % 3));
      out.push_back({"{BLF-CRYPT}" + crypt_with(setting, pw), pw});
    } else if (scheme == "CRYPT") {
      // yescrypt at libxcrypt's cheaper cost levels, and the $6$ / $2b$ forms.
      std::string setting = i < 14   ? gensalt("$y$", 1 + static_cast<unsigned long>(i % 5))
                            : i < 17 ? gensalt("$6$", 0)
                                     : gensalt("$2b$", 4);
      out.push_back({"{CRYPT}" + crypt_with(setting, pw), pw});
    } else {
      out.push_back({doveadm_hash(scheme, pw), pw});
    }
  }
  return out;
}

const char* const kSupported[] = {"SHA512-CRYPT", "BLF-CRYPT", "CRYPT", "ARGON2I", "ARGON2ID",      "PBKDF2",
                                  "SSHA512",      "SSHA256",   "SSHA",  "SHA512",  "SCRAM-SHA-256", "SHA256"};

class GoodHashTest : public ::testing::TestWithParam<const char*> {};

// Each good hash is accepted and verified by Dovecot; breaking its checksum
// (one character of a foreign alphabet, or one inserted) gets it refused.
// One test per scheme: doveadm takes a while to start.
TEST_P(GoodHashTest, AcceptedAndDovecotVerifiesMutantsRefused) {
  auto goods = good_hashes(GetParam());
  ASSERT_GE(goods.size(), 20u);
  for (const Good& g : goods) {
    SCOPED_TRACE(g.hash);
    Status s = check_hash(g.hash);
    EXPECT_TRUE(s.ok()) << s.message();
    EXPECT_TRUE(doveadm_verifies(g)) << "doveadm pw -t refused a hash check_hash accepts";
    std::string dash = g.hash;
    dash.back() = '-';
    std::string bang = g.hash;
    bang.insert(bang.size() / 2 + 3, "!");
    EXPECT_FALSE(check_hash(dash).ok()) << dash;
    EXPECT_FALSE(check_hash(bang).ok()) << bang;
  }
}

INSTANTIATE_TEST_SUITE_P(Schemes, GoodHashTest, ::testing::ValuesIn(kSupported),
                         [](const ::testing::TestParamInfo<const char*>& p) {
                           std::string name;
                           for (const char* c = p.param; *c != '\0'; ++c) {
                             if (*c != '-') name += *c;
                           }
                           return name;
                         });

struct Bad {
  std::string hash;
  std::string reason;  // substring of the message
};

const std::string k86(86, 'a');
const std::string k53(53, 'a');
const std::string k43(43, 'a');
const std::string kY = "$y$j9T$T8ObXUXRNCJb8lq5dOJSh/$";
const std::string kArgonSalt = "NjvYbS5m9JF43zVYgU/oWQ";
const std::string kArgonHash = "ECjnX9tcpsbu643crsftXRdU1RewjP0/ltJaGBBBovI";
const std::string k32b64 = "ed4mq4Z78ldoArH6jHGWv/wQ5X2N+p8MYhgygaAjduw=";

const std::vector<Bad> kBad = {
    // The examples.
    {"{SHA512-CRYPT}$6$", "no checksum"},
    {"{SHA512-CRYPT}$6$salt$abc", "checksum must be 86"},
    {"{BLF-CRYPT}$2y$05$short", "53 of"},
    // SHA512-CRYPT.
    {"{SHA512-CRYPT}$6$$" + k86, "salt must be 1-16"},
    {"{SHA512-CRYPT}$6$0123456789abcdefX$" + k86, "salt must be 1-16"},
    {"{SHA512-CRYPT}$6$sa_t$" + k86, "salt must be 1-16"},
    {"{SHA512-CRYPT}$6$salt$" + k86 + "a", "checksum must be 86"},
    {"{SHA512-CRYPT}$6$salt$" + k86.substr(1), "checksum must be 86"},
    {"{SHA512-CRYPT}$6$salt$" + k86.substr(1) + "+", "checksum must be 86"},
    {"{SHA512-CRYPT}$6$salt$" + k86 + "$", "checksum must be 86"},
    {"{SHA512-CRYPT}$6$rounds=999$salt$" + k86, "rounds must be 1000-999999999"},
    {"{SHA512-CRYPT}$6$rounds=01000$salt$" + k86, "rounds must be"},
    {"{SHA512-CRYPT}$6$rounds=1000000000$salt$" + k86, "rounds must be"},
    {"{SHA512-CRYPT}$6$rounds=$salt$" + k86, "rounds must be"},
    {"{SHA512-CRYPT}$6$rounds=5000", "rounds must be"},
    {"{SHA512-CRYPT}$5$salt$" + k43, "must start with $6$"},
    {"{SHA512-CRYPT}6$salt$" + k86, "must start with $6$"},
    // BLF-CRYPT.
    {"{BLF-CRYPT}$2x$05$" + k53, "legacy"},
    {"{BLF-CRYPT}$2$05$" + k53, "crypt(3)"},
    {"{BLF-CRYPT}$2b$03$" + k53, "cost must be two digits 04-31"},
    {"{BLF-CRYPT}$2b$32$" + k53, "cost must be"},
    {"{BLF-CRYPT}$2b$5$" + k53, "cost must be"},
    {"{BLF-CRYPT}$2b$005$" + k53, "cost must be"},
    {"{BLF-CRYPT}$2b$05$" + k53.substr(1), "53 of"},
    {"{BLF-CRYPT}$2b$05$" + k53 + "a", "53 of"},
    {"{BLF-CRYPT}$2b$05$" + k53.substr(1) + "+", "53 of"},
    {"{BLF-CRYPT}$2b$05" + k53, "cost must be"},
    {"{BLF-CRYPT}$6$salt$" + k86, "must start with $2"},
    // CRYPT: yescrypt and the legacy methods.
    {"{CRYPT}" + kY + k43.substr(1), "checksum must be 43"},
    {"{CRYPT}" + kY + k43 + "a", "checksum must be 43"},
    {"{CRYPT}$y$j9T$$" + k43, "salt must be 1-86"},
    {"{CRYPT}$y$jZT$salt$" + k43, "parameters"},
    {"{CRYPT}$y$j9$salt$" + k43, "parameters"},
    {"{CRYPT}$y$k9T$salt$" + k43, "parameters"},
    {"{CRYPT}$y$j9Tx$salt$" + k43, "parameters"},
    {"{CRYPT}$y$j9T$salt", "$y$PARAMS$SALT$CHECKSUM"},
    {"{CRYPT}$y$j9T$salt$" + k43 + "$x", "$y$PARAMS$SALT$CHECKSUM"},
    {"{CRYPT}$y$", "$y$PARAMS$SALT$CHECKSUM"},
    {"{CRYPT}abJnggxhB/yWI", "legacy"},
    {"{CRYPT}$1$abc$BXBqpb9BZcZhXLgbee.0s/", "legacy"},
    {"{CRYPT}$5$salt$Gcm6FsVtF/Qa77ZKD.iwsJlCVPY0XSMgLJL0Hnww/c1", "legacy"},
    {"{CRYPT}_J9..CCCC.MOp/ZbelpA", "legacy"},
    {"{CRYPT}$7$CU..../....abc$" + k43, "supports $y$"},
    {"{CRYPT}$gy$j9T$salt$" + k43, "supports $y$"},
    {"{CRYPT}$6$salt$abc", "checksum must be 86"},
    // Legacy schemes Dovecot still knows.
    {"{SHA256-CRYPT}$5$hxLhD8uVtuk8dxHP$8o3Zfuie1Pct3i.Artteefj66pqMLHJZmBq97Q3jIq8", "legacy"},
    {"{MD5-CRYPT}$1$u9.QcWLk$V1DICZVf6OhQfj32DR6BK0", "legacy"},
    // Argon2.
    {"{ARGON2ID}$argon2id$v=19$m=65536,t=3,p=1$" + kArgonSalt + "$" + kArgonHash + "AA", "hash must be"},
    {"{ARGON2ID}$argon2id$v=19$m=65536,t=3,p=1$" + kArgonSalt + "$" + kArgonHash + "=", "hash must be"},
    {"{ARGON2ID}$argon2id$v=19$m=65536,t=3,p=1$" + kArgonSalt + "$AAAA", "hash must be"},
    {"{ARGON2ID}$argon2id$v=19$m=65536,t=3,p=1$AAAA$" + kArgonHash, "salt must be"},
    {"{ARGON2ID}$argon2id$v=19$m=65536,t=3,p=1$" + kArgonSalt + "$", "hash must be"},
    {"{ARGON2ID}$argon2id$v=16$m=65536,t=3,p=1$" + kArgonSalt + "$" + kArgonHash, "v=19"},
    {"{ARGON2ID}$argon2id$m=65536,t=3,p=1$" + kArgonSalt + "$" + kArgonHash, "must be $VARIANT"},
    {"{ARGON2ID}$argon2id$v=19$m=4,t=3,p=1$" + kArgonSalt + "$" + kArgonHash, "memory"},
    {"{ARGON2ID}$argon2id$v=19$m=99999999,t=3,p=1$" + kArgonSalt + "$" + kArgonHash, "memory"},
    {"{ARGON2ID}$argon2id$v=19$m=65536,t=0,p=1$" + kArgonSalt + "$" + kArgonHash, "passes"},
    {"{ARGON2ID}$argon2id$v=19$m=65536,t=3,p=4$" + kArgonSalt + "$" + kArgonHash, "parallelism"},
    {"{ARGON2ID}$argon2id$v=19$t=3,m=65536,p=1$" + kArgonSalt + "$" + kArgonHash, "m=M,t=T,p=P"},
    {"{ARGON2ID}$argon2i$v=19$m=65536,t=3,p=1$" + kArgonSalt + "$" + kArgonHash, "must start with $argon2id$"},
    {"{ARGON2I}$argon2i$v=19$m=32768,t=2,p=1$" + kArgonSalt + "$" + kArgonHash, "passes must be t=3"},
    {"{ARGON2I}$argon2id$v=19$m=32768,t=4,p=1$" + kArgonSalt + "$" + kArgonHash, "must start with $argon2i$"},
    // PBKDF2.
    {"{PBKDF2}$1$uW9eE/tSE39VAZcR$5000$d7bfd51c35b89b425f7b221b4369cbe75e65629", "40 hex"},
    {"{PBKDF2}$1$uW9eE/tSE39VAZcR$5000$d7bfd51c35b89b425f7b221b4369cbe75e65629cc", "40 hex"},
    {"{PBKDF2}$1$uW9eE/tSE39VAZcR$5000$g7bfd51c35b89b425f7b221b4369cbe75e65629c", "40 hex"},
    {"{PBKDF2}$1$uW9eE/tSE39VAZcR$999$d7bfd51c35b89b425f7b221b4369cbe75e65629c", "rounds"},
    {"{PBKDF2}$1$uW9eE/tSE39VAZcR$05000$d7bfd51c35b89b425f7b221b4369cbe75e65629c", "rounds"},
    {"{PBKDF2}$1$$5000$d7bfd51c35b89b425f7b221b4369cbe75e65629c", "salt"},
    {"{PBKDF2}$1$uW9eE/tSE39VAZcR$d7bfd51c35b89b425f7b221b4369cbe75e65629c", "$1$SALT$ROUNDS$HEX"},
    {"{PBKDF2}$2$uW9eE/tSE39VAZcR$5000$d7bfd51c35b89b425f7b221b4369cbe75e65629c", "must start with $1$"},
    // Digests.
    {"{SHA256}" + k32b64.substr(1), "32-byte digest"},
    {"{SHA256}ed4mq4Z78ldoArH6jHGWv/wQ5X2N+p8MYhgygaAjduw", "32-byte digest"},
    {"{SHA256}ed4mq4Z78ldoArH6jHGWv/wQ5X2N+p8MYhgygaAjdux=", "32-byte digest"},
    {"{SHA256}" + k32b64 + "AAAA", "32-byte digest"},
    {"{SHA512}" + k32b64, "64-byte digest"},
    {"{SSHA256}" + k32b64, "and a salt"},
    {"{SSHA512}c29tZWJhc2U2NA==", "and a salt"},
    {"{SSHA}gBx1v+6Wja2veuwoc3OEirbcjhEVJOj", "and a salt"},
    {"{SSHA}gBx1v+6Wja2veuwoc3OEirbcjhEVJOj9====", "and a salt"},
    {"{SSHA}gBx1v+6Wja2veuwoc3OE-rbcjhEVJOj9", "and a salt"},
    // SCRAM-SHA-256.
    {"{SCRAM-SHA-256}4095,slJ2FUFysvxbCGPe5VAEAg==," + k32b64 + "," + k32b64, "iterations"},
    {"{SCRAM-SHA-256}4096,slJ2FUFysvxbCGPe5VAEAg==," + k32b64, "ITER,SALT"},
    {"{SCRAM-SHA-256}4096,slJ2FUFysvxbCGPe5VAEAg==," + k32b64 + "," + k32b64 + ",x", "ITER,SALT"},
    {"{SCRAM-SHA-256}4096,," + k32b64 + "," + k32b64, "salt"},
    {"{SCRAM-SHA-256}4096,slJ2FUFysvxbCGPe5VAEAg==,c29tZWJhc2U2NA==," + k32b64, "32 bytes"},
    // Scheme and characters.
    {"", "empty hash"},
    {"$6$salt$" + k86, "must start with {SCHEME}"},
    {"{PLAIN}secretsecret", "unknown scheme"},
    {"{NOPE}abc", "unknown scheme"},
    {"{SHA512-CRYPT}", "no hash after"},
    {"{SHA512-CRYPT$6$salt$" + k86, "unterminated"},
    {"{SHA512-CRYPT}$6$salt$" + k86.substr(1) + ":", "':'"},
    {"{SHA512-CRYPT}$6$salt$" + k86.substr(1) + " ", "whitespace"},
    {"{SHA512-CRYPT}$6$salt$" + k86.substr(1) + "\n", "control character"},
    {"{SHA512-CRYPT}$6$salt$" + k86.substr(1) + "\xc3", "non-ASCII"},
    {"{SHA512-CRYPT}$6$salt$" + std::string(400, 'a'), "longer than any crypt(3)"},
    {"{CRYPT}$6$salt$" + std::string(400, 'a'), "longer than any crypt(3)"},
};

TEST(HashTableTest, HostileRefusedWithReason) {
  for (const Bad& b : kBad) {
    SCOPED_TRACE("input: " + quote(b.hash));
    Status s = check_hash(b.hash, "password_hash");
    ASSERT_FALSE(s.ok());
    EXPECT_EQ(s.code(), Code::kBadInput);
    EXPECT_NE(s.message().find(b.reason), std::string::npos) << s.message();
    EXPECT_EQ(s.message().rfind("password_hash: ", 0), 0u) << "names the field";
    EXPECT_EQ(s.message().find('\n'), std::string::npos) << "one line";
    // Issue 22: never the hash, nor its value after {SCHEME}, nor an unknown scheme.
    size_t close = b.hash.find('}');
    std::string value = close == std::string::npos ? b.hash : b.hash.substr(close + 1);
    if (value.size() >= 6) {
      EXPECT_EQ(s.message().find(value), std::string::npos) << s.message();
    }
    for (const char* unknown : {"PLAIN", "NOPE", "secretsecret"}) {
      EXPECT_EQ(s.message().find(unknown), std::string::npos) << s.message();
    }
  }
}

TEST(HashTableTest, SchemeNameIsCaseInsensitive) {
  std::string hash = crypt_with("$6$abc", "pw");
  EXPECT_TRUE(check_hash("{sha512-crypt}" + hash).ok());
  EXPECT_TRUE(check_hash("{Sha512-Crypt}" + hash).ok());
}

// Hashes stored before legacy methods were refused keep their users on the
// server: refused as new input, accepted when read back for the export.
TEST(HashTableTest, LegacyRefusedAsNewAcceptedAsStored) {
  for (std::string hash :
       {"{SHA256-CRYPT}" + crypt_with("$5$abcdefgh", "pw"), "{MD5-CRYPT}" + crypt_with("$1$abcdefgh", "pw")}) {
    Status fresh = check_hash(hash, "--hash");
    EXPECT_FALSE(fresh.ok()) << hash;
    EXPECT_NE(fresh.message().find("legacy"), std::string::npos) << fresh.message();
    EXPECT_TRUE(check_hash(hash, "hash", HashUse::kStored).ok()) << hash;
  }
  // Stored or not, a damaged hash is still refused.
  EXPECT_FALSE(check_hash("{SHA512-CRYPT}$6$salt$abc", "hash", HashUse::kStored).ok());
}

// What vmail itself writes always passes its own check.
TEST(HashTableTest, OwnHashesPass) {
  for (Scheme s : {Scheme::kSha512Crypt, Scheme::kBlfCrypt, Scheme::kYescrypt}) {
    auto h = hash_password("correct horse", s);
    ASSERT_TRUE(h.ok());
    EXPECT_TRUE(check_hash(*h).ok()) << *h;
  }
}

}  // namespace
}  // namespace vmail
