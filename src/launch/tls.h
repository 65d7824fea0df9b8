// TLS material for the launcher: certificate checks, the self-signed
// fallback, the copies Postfix and Dovecot read, and DH parameters
// (SPEC "Launcher"). Uses OpenSSL in-process; thread-compatible.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "core/status.h"
#include "launch/launch_settings.h"

namespace vmail {

// The files the daemons read, in LaunchSettings::cert_dir.
struct TlsFiles {
  std::string cert;       // cert.pem, 0644
  std::string key;        // privkey.pem, 0640 root:dovecot
  std::string fullchain;  // fullchain.pem, 0644: the certificate and its chain
  bool self_signed = false;
  // pair.pem, 0640 root:dovecot: the key followed by the certificate and its
  // chain. The only file Postfix and Dovecot read, so that a renewal replaces
  // key and certificate in one rename: no daemon can load a new key with an
  // old certificate.
  std::string pair;
};

// kConfig naming the file when `cert_path` is not a readable PEM certificate,
// `key_path` not a readable unencrypted PEM key, or the key does not belong to
// the certificate. `cert_field`/`key_field` name the settings in the message.
Status check_key_matches(const std::string& cert_path, const std::string& key_path,
                         const std::string& cert_field = "SSL_CERT_FILE",
                         const std::string& key_field = "SSL_KEY_FILE");

// Makes a self-signed certificate (RSA 2048, SHA-256, 10 years, subject and
// SANs `names`) as `dir`/cert.pem and `dir`/privkey.pem (0600).
Status make_self_signed(const std::string& dir, const std::vector<std::string>& names);

// Installs the certificate, key and chain into settings.cert_dir with the
// seed's modes, after checking them. Without any certificate given it makes
// (or reuses) a self-signed one in the state dir and says so in *warnings.
Result<TlsFiles> install_certificates(const LaunchSettings& settings, std::vector<std::string>* warnings);

// Notices certificates renewed in place at the source paths (SSL_CERT_FILE,
// SSL_KEY_FILE, SSL_CHAIN_FILE) by their content, so a touch or an identical
// copy is no change. The running launcher asks every
// VMAIL_CERT_CHECK_INTERVAL seconds and, on a change, reconfigures: the new
// pair is checked (a mismatched or half-written pair is refused with one log
// line and the old pair keeps serving) and installed in one rename. Each
// change is reported once. Not thread-safe; `settings` must outlive it.
class CertificateWatch {
 public:
  explicit CertificateWatch(const LaunchSettings& settings);
  // A reason naming the files when their content differs from the last look.
  std::optional<std::string> changed();

 private:
  std::string fingerprint() const;
  const LaunchSettings& settings_;
  std::string last_;
};

// Writes RFC 7919 ffdhe2048 parameters to `path` (0644) unless a file is there.
Status ensure_dh_params(const std::string& path);

}  // namespace vmail
