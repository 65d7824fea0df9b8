#include "launch/tls.h"

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>

#include "core/accounts.h"
#include "core/files.h"

namespace vmail {
namespace {

struct X509Free {
  void operator()(X509* x) const { X509_free(x); }
};
struct KeyFree {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
struct BioFree {
  void operator()(BIO* b) const { BIO_free(b); }
};
using X509Ptr = std::unique_ptr<X509, X509Free>;
using KeyPtr = std::unique_ptr<EVP_PKEY, KeyFree>;
using BioPtr = std::unique_ptr<BIO, BioFree>;

// The reason OpenSSL gave for the last failure, for one message line.
std::string openssl_reason() {
  unsigned long e = ERR_get_error();
  ERR_clear_error();
  if (e == 0) return "no PEM data";
  const char* reason = ERR_reason_error_string(e);
  return reason != nullptr ? reason : "OpenSSL error " + std::to_string(e);
}

// The most a certificate, key or chain file is read: a chain with its
// intermediates is a few KiB, a whole CA bundle about 200 KiB; a wrong path
// (a log, /dev/zero) is refused, not read whole.
constexpr size_t kMaxPemFile = size_t{1} << 20;

// Never prompt for a pass phrase: an encrypted key is a configuration error.
int no_passphrase(char*, int, int, void*) { return -1; }

Result<std::string> read_source(const std::string& path, const std::string& field) {
  auto content = read_file_limited(path, kMaxPemFile);
  if (!content.ok() && content.status().code() == Code::kBadInput) {
    return Status(Code::kConfig, field + " " + content.status().message());
  }
  if (!content.ok()) return Status(Code::kConfig, field + " " + path + ": cannot read: " + content.status().message());
  if (!*content) return Status(Code::kConfig, field + " " + path + ": cannot read: no such file");
  return **content;
}

Result<X509Ptr> parse_cert(const std::string& pem, const std::string& path, const std::string& field) {
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  X509Ptr cert(PEM_read_bio_X509(bio.get(), nullptr, no_passphrase, nullptr));
  if (!cert) return Status(Code::kConfig, field + " " + path + ": not a PEM certificate (" + openssl_reason() + ")");
  return cert;
}

Result<KeyPtr> parse_key(const std::string& pem, const std::string& path, const std::string& field) {
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  KeyPtr key(PEM_read_bio_PrivateKey(bio.get(), nullptr, no_passphrase, nullptr));
  if (!key) {
    return Status(Code::kConfig,
                  field + " " + path + ": not an unencrypted PEM private key (" + openssl_reason() + ")");
  }
  return key;
}

Status cert_matches_key(X509* cert, EVP_PKEY* key, const std::string& cert_path, const std::string& cert_field,
                        const std::string& key_path, const std::string& key_field) {
  if (X509_check_private_key(cert, key) != 1) {
    ERR_clear_error();
    return Status(Code::kConfig,
                  key_field + " " + key_path + " does not match the certificate " + cert_field + " " + cert_path);
  }
  return Status::Ok();
}

// A certificate and its private key, read, parsed and found to match: the one
// path every check of a pair takes (the launcher's install, the renewal watch,
// the self-signed reuse).
struct CertKeyPair {
  std::string cert_pem, key_pem;
  X509Ptr cert;
  KeyPtr key;
};

Result<CertKeyPair> load_pair(const std::string& cert_path, const std::string& key_path, const std::string& cert_field,
                              const std::string& key_field) {
  auto cert_pem = read_source(cert_path, cert_field);
  if (!cert_pem.ok()) return cert_pem.status();
  auto key_pem = read_source(key_path, key_field);
  if (!key_pem.ok()) return key_pem.status();
  auto cert = parse_cert(*cert_pem, cert_path, cert_field);
  if (!cert.ok()) return cert.status();
  auto key = parse_key(*key_pem, key_path, key_field);
  if (!key.ok()) return key.status();
  if (Status s = cert_matches_key(cert->get(), key->get(), cert_path, cert_field, key_path, key_field); !s.ok()) {
    return s;
  }
  return CertKeyPair{std::move(*cert_pem), std::move(*key_pem), std::move(*cert), std::move(*key)};
}

// A certificate chain or key file: far below this (a chain of a few
// certificates is ~10 KB); anything bigger is not read whole.
constexpr size_t kMaxPemBytes = 1 << 20;

// Writes only when the content differs, so a restart does not touch the files.
Status write_if_changed(const std::string& path, const std::string& content, const FileOptions& options) {
  auto dir = Dir::open(dir_of(path));
  if (!dir.ok()) return dir.status();
  std::string name = base_name(path);
  auto current = dir->read_file(name, kMaxPemBytes);
  if (current.ok() && *current && **current == content) {
    // Keep the modes right even when the content already is (by descriptor).
    FileOptions fix = options;
    if (fix.group && !fix.owner) fix.owner = 0;
    return dir->set_file_owner_mode(name, fix);
  }
  return dir->write_file(name, content, options);
}

// A self-signed certificate is reused while it is valid for a week more and
// names the server.
bool self_signed_usable(const std::string& dir, const std::string& server_name) {
  auto pair = load_pair(dir + "/cert.pem", dir + "/privkey.pem", "self-signed", "self-signed");
  if (!pair.ok()) return false;
  X509* cert = pair->cert.get();
  time_t week = time(nullptr) + 7 * 24 * 3600;
  if (X509_cmp_time(X509_get0_notAfter(cert), &week) <= 0) return false;
  return X509_check_host(cert, server_name.c_str(), server_name.size(), 0, nullptr) == 1;
}

// RFC 7919 ffdhe2048 (as `openssl genpkey -genparam -algorithm DH -pkeyopt
// group:ffdhe2048` prints it): a well-known safe group, nothing to generate.
constexpr const char* kFfdhe2048 =
    "-----BEGIN DH PARAMETERS-----\n"
    "MIIBCAKCAQEA//////////+t+FRYortKmq/cViAnPTzx2LnFg84tNpWp4TZBFGQz\n"
    "+8yTnc4kmz75fS/jY2MMddj2gbICrsRhetPfHtXV/WVhJDP1H18GbtCFY2VVPe0a\n"
    "87VXE15/V8k1mE8McODmi3fipona8+/och3xWKE2rec1MKzKT0g6eXq8CrGCsyT7\n"
    "YdEIqUuyyOP7uWrat2DX9GgdT0Kj3jlN9K5W7edjcrsZCwenyO4KbXCeAvzhzffi\n"
    "7MA0BM0oNC9hkXL+nOmFg/+OTxIy7vKBg8P+OxtMb61zO7X8vC7CIAXFjvGDfRaD\n"
    "ssbzSibBsu/6iGtCOGEoXJf//////////wIBAg==\n"
    "-----END DH PARAMETERS-----\n";

}  // namespace

Status check_key_matches(const std::string& cert_path, const std::string& key_path, const std::string& cert_field,
                         const std::string& key_field) {
  return load_pair(cert_path, key_path, cert_field, key_field).status();
}

Status make_self_signed(const std::string& dir, const std::vector<std::string>& names) {
  if (names.empty()) return Status(Code::kInternal, "make_self_signed: no names");
  KeyPtr key(EVP_RSA_gen(2048));
  X509Ptr cert(X509_new());
  if (!key || !cert) return Status(Code::kInternal, "self-signed certificate: " + openssl_reason());
  X509_set_version(cert.get(), 2);
  unsigned char serial[16];
  RAND_bytes(serial, sizeof serial);
  serial[0] &= 0x7f;  // a positive serial number
  BIGNUM* bn = BN_bin2bn(serial, sizeof serial, nullptr);
  BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert.get()));
  BN_free(bn);
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), 10L * 365 * 24 * 3600);
  X509_set_pubkey(cert.get(), key.get());
  X509_NAME* subject = X509_get_subject_name(cert.get());
  X509_NAME_add_entry_by_txt(subject, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>(names[0].c_str()), -1,
                             -1, 0);
  X509_NAME_add_entry_by_txt(subject, "O", MBSTRING_ASC, reinterpret_cast<const unsigned char*>("vmail self-signed"),
                             -1, -1, 0);
  X509_set_issuer_name(cert.get(), subject);
  std::string san;
  for (const auto& n : names) san += (san.empty() ? "DNS:" : ",DNS:") + n;
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, cert.get(), cert.get(), nullptr, nullptr, 0);
  for (const auto& [nid, value] :
       std::vector<std::pair<int, std::string>>{{NID_subject_alt_name, san},
                                                {NID_basic_constraints, "critical,CA:FALSE"},
                                                {NID_key_usage, "critical,digitalSignature,keyEncipherment"},
                                                {NID_ext_key_usage, "serverAuth"}}) {
    X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str());
    if (ext == nullptr) return Status(Code::kInternal, "self-signed certificate: " + openssl_reason());
    X509_add_ext(cert.get(), ext, -1);
    X509_EXTENSION_free(ext);
  }
  if (X509_sign(cert.get(), key.get(), EVP_sha256()) == 0) {
    return Status(Code::kInternal, "self-signed certificate: " + openssl_reason());
  }

  BioPtr cert_bio(BIO_new(BIO_s_mem()));
  BioPtr key_bio(BIO_new(BIO_s_mem()));
  PEM_write_bio_X509(cert_bio.get(), cert.get());
  PEM_write_bio_PrivateKey(key_bio.get(), key.get(), nullptr, nullptr, 0, nullptr, nullptr);
  auto text = [](BIO* b) {
    char* data = nullptr;
    long n = BIO_get_mem_data(b, &data);
    return std::string(data, static_cast<size_t>(n));
  };
  if (Status s = make_dirs(dir, 0700); !s.ok()) return s;
  FileOptions secret;
  secret.mode = 0600;
  if (Status s = write_file_atomic(dir + "/privkey.pem", text(key_bio.get()), secret); !s.ok()) return s;
  FileOptions open;
  open.mode = 0644;
  return write_file_atomic(dir + "/cert.pem", text(cert_bio.get()), open);
}

Result<TlsFiles> install_certificates(const LaunchSettings& launch, std::vector<std::string>* warnings) {
  std::string cert_src = launch.cert_source;
  std::string key_src = launch.key_source;
  std::string chain_src = launch.chain_source;
  bool self_signed = false;
  if (!launch.cert_explicit && !file_exists(cert_src) && !file_exists(key_src)) {
    // No certificate given: TLS stays on with a self-signed one.
    if (!self_signed_usable(launch.self_signed_dir, launch.server_name)) {
      std::vector<std::string> names = {launch.server_name};
      if (launch.mail_domain != launch.server_name) names.push_back(launch.mail_domain);
      if (Status s = make_self_signed(launch.self_signed_dir, names); !s.ok()) return s;
    }
    cert_src = launch.self_signed_dir + "/cert.pem";
    key_src = launch.self_signed_dir + "/privkey.pem";
    chain_src = cert_src;
    self_signed = true;
    if (warnings) {
      warnings->push_back("no certificate at " + launch.cert_source + " (SSL_CERT_FILE): using a self-signed one for " +
                          launch.server_name + "; clients will warn until a real certificate is installed");
    }
  }

  if (!self_signed && !launch.key_explicit && file_exists(cert_src) && !file_exists(key_src)) {
    // SSL_CERT_FILE alone (often left over from OpenSSL's own use of that
    // variable for a CA bundle) is not enough.
    return Status(Code::kConfig, "SSL_KEY_FILE: not set and " + key_src + " does not exist (SSL_CERT_FILE is " +
                                     cert_src + "; set both, or neither for a self-signed certificate)");
  }
  auto pair = load_pair(cert_src, key_src, "SSL_CERT_FILE", "SSL_KEY_FILE");
  if (!pair.ok()) return pair.status();
  const std::string& cert_pem = pair->cert_pem;
  const std::string& key_pem = pair->key_pem;
  X509* cert = pair->cert.get();
  EVP_PKEY* key = pair->key.get();
  if (X509_cmp_current_time(X509_get0_notAfter(cert)) <= 0 && warnings) {
    warnings->push_back("SSL_CERT_FILE " + cert_src + ": the certificate has expired");
  }

  // The chain file is optional unless named: without it the certificate alone is served.
  std::string chain_pem = cert_pem;
  if (!self_signed && (launch.chain_explicit || file_exists(chain_src))) {
    auto chain = read_source(chain_src, "SSL_CHAIN_FILE");
    if (!chain.ok()) return chain.status();
    auto first = parse_cert(*chain, chain_src, "SSL_CHAIN_FILE");
    if (!first.ok()) return first.status();
    if (Status s = cert_matches_key(first->get(), key, chain_src, "SSL_CHAIN_FILE", key_src, "SSL_KEY_FILE"); !s.ok()) {
      return s;
    }
    chain_pem = *chain;
  }

  TlsFiles out;
  out.cert = launch.cert_dir + "/cert.pem";
  out.key = launch.cert_dir + "/privkey.pem";
  out.fullchain = launch.cert_dir + "/fullchain.pem";
  out.pair = launch.cert_dir + "/pair.pem";
  out.self_signed = self_signed;
  if (Status s = make_dirs(launch.cert_dir, 0755); !s.ok()) return s;
  FileOptions key_options;
  key_options.mode = 0640;
  key_options.owner = 0;
  key_options.group = group_by_name("dovecot").value_or(0);
  FileOptions public_options;
  public_options.mode = 0644;
  if (Status s = write_if_changed(out.key, key_pem, key_options); !s.ok()) return s;
  if (Status s = write_if_changed(out.cert, cert_pem, public_options); !s.ok()) return s;
  if (Status s = write_if_changed(out.fullchain, chain_pem, public_options); !s.ok()) return s;
  std::string key_then_chain = key_pem;
  if (!key_then_chain.empty() && key_then_chain.back() != '\n') key_then_chain += '\n';
  if (Status s = write_if_changed(out.pair, key_then_chain + chain_pem, key_options); !s.ok()) return s;
  return out;
}

CertificateWatch::CertificateWatch(const LaunchSettings& settings) : settings_(settings), last_(fingerprint()) {}

// SHA-256 over each source's content ("-" for a missing or unreadable one).
std::string CertificateWatch::fingerprint() const {
  std::string out;
  for (const std::string* path : {&settings_.cert_source, &settings_.key_source, &settings_.chain_source}) {
    auto content = read_file_limited(*path, kMaxPemFile);
    if (!content.ok() || !*content) {
      out += "-;";
      continue;
    }
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    if (EVP_Digest((*content)->data(), (*content)->size(), md, &len, EVP_sha256(), nullptr) != 1) {
      out += "?;";
      continue;
    }
    out.append(reinterpret_cast<const char*>(md), len);
    out += ';';
  }
  return out;
}

std::optional<std::string> CertificateWatch::changed() {
  std::string now = fingerprint();
  if (now == last_) return std::nullopt;
  last_ = std::move(now);
  return "certificate files changed at " + settings_.cert_source + " / " + settings_.key_source;
}

Status ensure_dh_params(const std::string& path) {
  if (file_exists(path)) return Status::Ok();
  FileOptions options;
  options.mode = 0644;
  return write_file_atomic(path, kFfdhe2048, options);
}

}  // namespace vmail
