// DKIM key generation: PKCS#8 PEM, the p= value `openssl pkey -pubout`
// gives for the same private key (rsa) and the raw 32-byte key (ed25519).
#include <gtest/gtest.h>

#include <fstream>

#include "core/files.h"
#include "core/process.h"
#include "dkim/keygen.h"
#include "tests/test_util.h"

namespace vmail {
namespace {

// What `openssl pkey -pubout` prints for the key file, base64 on one line.
std::string openssl_pubout(const std::string& pem, const std::string& dir) {
  std::string path = dir + "/key.private";
  std::ofstream(path) << pem;
  auto run = run_process({"openssl", "pkey", "-in", path, "-pubout"});
  EXPECT_TRUE(run.ok());
  std::string b64;
  std::string line;
  std::istringstream in(run->output);
  while (std::getline(in, line)) {
    if (line.rfind("-----", 0) != 0) b64 += line;
  }
  return b64;
}

TEST(DkimKeygenTest, RsaKeyIsPkcs8AndItsPublicKeyIsWhatOpensslPrints) {
  auto key = generate_dkim_key(DkimAlgorithm::kRsa);
  ASSERT_TRUE(key.ok()) << key.status().message();
  EXPECT_EQ(key->private_pem.rfind("-----BEGIN PRIVATE KEY-----\n", 0), 0u);
  testing::TempDir dir;
  EXPECT_EQ(key->public_key, openssl_pubout(key->private_pem, dir.path()));
  // 2048 bits: a 294-byte SubjectPublicKeyInfo, 392 base64 characters.
  EXPECT_EQ(key->public_key.size(), 392u);
  EXPECT_EQ(*dkim_public_key(key->private_pem), key->public_key);
}

TEST(DkimKeygenTest, Ed25519PublicKeyIsTheRaw32Bytes) {
  auto key = generate_dkim_key(DkimAlgorithm::kEd25519);
  ASSERT_TRUE(key.ok()) << key.status().message();
  EXPECT_EQ(key->private_pem.rfind("-----BEGIN PRIVATE KEY-----\n", 0), 0u);
  EXPECT_EQ(key->public_key.size(), 44u);  // base64 of 32 bytes
  testing::TempDir dir;
  // The SubjectPublicKeyInfo of an Ed25519 key is a fixed 12-byte header
  // and the raw key: base64 "MCowBQYDK2VwAyEA" + the 32 bytes.
  std::string spki = openssl_pubout(key->private_pem, dir.path());
  EXPECT_EQ(spki.substr(0, 16), "MCowBQYDK2VwAyEA");
  EXPECT_EQ(*dkim_public_key(key->private_pem), key->public_key);
}

TEST(DkimKeygenTest, EveryKeyIsNew) {
  auto a = generate_dkim_key(DkimAlgorithm::kEd25519);
  auto b = generate_dkim_key(DkimAlgorithm::kEd25519);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_NE(a->public_key, b->public_key);
}

TEST(DkimKeygenTest, NotAKeyIsRefused) {
  for (const char* bad : {"", "hello", "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"}) {
    auto pub = dkim_public_key(bad);
    ASSERT_FALSE(pub.ok()) << bad;
    EXPECT_EQ(pub.status().code(), Code::kBadInput);
  }
}

}  // namespace
}  // namespace vmail
