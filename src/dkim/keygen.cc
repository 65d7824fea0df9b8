#include "dkim/keygen.h"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include <memory>
#include <vector>

namespace vmail {
namespace {

using Pkey = std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)>;
using PkeyCtx = std::unique_ptr<EVP_PKEY_CTX, decltype(&EVP_PKEY_CTX_free)>;
using Bio = std::unique_ptr<BIO, decltype(&BIO_free)>;

Status openssl_error(const std::string& what) {
  char buf[256] = "unknown error";
  if (unsigned long e = ERR_get_error(); e != 0) ERR_error_string_n(e, buf, sizeof buf);
  ERR_clear_error();
  return Status(Code::kInternal, "DKIM key: " + what + ": " + buf);
}

std::string base64(const unsigned char* data, size_t size) {
  std::string out(4 * ((size + 2) / 3) + 1, '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), data, static_cast<int>(size));
  out.resize(static_cast<size_t>(n));
  return out;
}

Result<std::string> public_key_of(EVP_PKEY* pkey) {
  if (EVP_PKEY_get_base_id(pkey) == EVP_PKEY_ED25519) {
    unsigned char raw[32];
    size_t len = sizeof raw;
    if (EVP_PKEY_get_raw_public_key(pkey, raw, &len) != 1) return openssl_error("raw public key");
    return base64(raw, len);
  }
  if (EVP_PKEY_get_base_id(pkey) != EVP_PKEY_RSA) return Status(Code::kBadInput, "DKIM key: neither rsa nor ed25519");
  int len = i2d_PUBKEY(pkey, nullptr);
  if (len <= 0) return openssl_error("public key");
  std::vector<unsigned char> der(static_cast<size_t>(len));
  unsigned char* p = der.data();
  if (i2d_PUBKEY(pkey, &p) != len) return openssl_error("public key");
  return base64(der.data(), der.size());
}

Result<Pkey> generate(DkimAlgorithm algorithm) {
  PkeyCtx ctx(EVP_PKEY_CTX_new_id(algorithm == DkimAlgorithm::kRsa ? EVP_PKEY_RSA : EVP_PKEY_ED25519, nullptr),
              &EVP_PKEY_CTX_free);
  if (!ctx || EVP_PKEY_keygen_init(ctx.get()) != 1) return openssl_error("keygen init");
  if (algorithm == DkimAlgorithm::kRsa && EVP_PKEY_CTX_set_rsa_keygen_bits(ctx.get(), kDkimRsaBits) != 1) {
    return openssl_error("rsa bits");
  }
  EVP_PKEY* raw = nullptr;
  if (EVP_PKEY_keygen(ctx.get(), &raw) != 1) return openssl_error("keygen");
  return Pkey(raw, &EVP_PKEY_free);
}

}  // namespace

Result<DkimKeyMaterial> generate_dkim_key(DkimAlgorithm algorithm) {
  auto pkey = generate(algorithm);
  if (!pkey.ok()) return pkey.status();
  Bio bio(BIO_new(BIO_s_mem()), &BIO_free);
  // PEM_write_bio_PrivateKey writes PKCS#8 ("BEGIN PRIVATE KEY"), unencrypted:
  // OpenDKIM reads it without a passphrase; the file's mode protects it.
  if (!bio || PEM_write_bio_PrivateKey(bio.get(), pkey->get(), nullptr, nullptr, 0, nullptr, nullptr) != 1) {
    return openssl_error("PEM");
  }
  char* data = nullptr;
  long size = BIO_get_mem_data(bio.get(), &data);
  DkimKeyMaterial out;
  out.algorithm = algorithm;
  out.private_pem.assign(data, static_cast<size_t>(size));
  auto pub = public_key_of(pkey->get());
  if (!pub.ok()) return pub.status();
  out.public_key = std::move(*pub);
  return out;
}

Result<std::string> dkim_public_key(const std::string& pem) {
  Bio bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())), &BIO_free);
  if (!bio) return openssl_error("read");
  Pkey pkey(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr), &EVP_PKEY_free);
  if (!pkey) {
    ERR_clear_error();
    return Status(Code::kBadInput, "DKIM key: not a PEM private key");
  }
  return public_key_of(pkey.get());
}

Result<NewDkimKeys> new_domain_keys(const Settings& settings, const EnvReader& env, std::time_t now) {
  auto key = generate_dkim_key(DkimAlgorithm::kRsa);
  if (!key.ok()) return key.status();
  NewDkimKeys out{dkim_key_files(settings, env), {std::move(*key)}, now};
  return out;
}

}  // namespace vmail
