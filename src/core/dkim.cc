#include "core/dkim.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>

#include "core/accounts.h"
#include "core/row_policy.h"

namespace vmail {

std::string_view dkim_algorithm_name(DkimAlgorithm algorithm) {
  return algorithm == DkimAlgorithm::kEd25519 ? "ed25519" : "rsa";
}

Result<DkimAlgorithm> parse_dkim_algorithm(std::string_view text, std::string_view field) {
  std::string lower(text);
  for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (lower == "rsa") return DkimAlgorithm::kRsa;
  if (lower == "ed25519") return DkimAlgorithm::kEd25519;
  return Status(Code::kBadInput, std::string(field) + " " + quote(text) + ": unknown algorithm (use rsa or ed25519)");
}

std::string_view dkim_state_name(DkimState state) { return state == DkimState::kRetired ? "retired" : "active"; }

Result<std::string> normalize_selector(std::string_view text, std::string_view field) {
  auto bad = [&](const std::string& why) {
    return Status(Code::kBadInput, std::string(field) + " " + quote(text) + ": " + why);
  };
  if (text.empty()) return bad("empty");
  if (text.size() > 63) return bad("longer than 63 characters (one DNS label)");
  std::string out;
  for (char c : text) {
    char l = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (!((l >= 'a' && l <= 'z') || (l >= '0' && l <= '9') || l == '-')) {
      return bad("only letters, digits and '-' (one DNS label)");
    }
    out += l;
  }
  if (out.front() == '-' || out.back() == '-') return bad("must not start or end with '-'");
  return out;
}

std::string dkim_selector_for(std::time_t now, const std::vector<std::string>& taken) {
  struct tm tm {};
  gmtime_r(&now, &tm);
  char buf[16];
  std::strftime(buf, sizeof buf, "s%Y%m%d", &tm);
  std::string base = buf;
  auto used = [&](const std::string& s) { return std::find(taken.begin(), taken.end(), s) != taken.end(); };
  if (!used(base)) return base;
  for (int n = 2;; ++n) {
    std::string candidate = base + "-" + std::to_string(n);
    if (!used(candidate)) return candidate;
  }
}

std::string DkimKeyFiles::path(const std::string& domain, const std::string& selector) const {
  return dir + "/" + domain + "/" + selector + ".private";
}

bool dkim_key_names_safe(std::string_view domain, std::string_view selector) {
  if (!row_safe_domain(domain)) return false;
  auto normal = normalize_selector(selector);
  return normal.ok() && *normal == selector;
}

namespace {

constexpr size_t kMaxKeyFileBytes = 64 * 1024;  // an RSA 4096 PEM is ~3.3 KB

Status unsafe_key_names(const std::string& domain, const std::string& selector) {
  return Status(Code::kInternal, "DKIM key " + quote(domain) + "/" + quote(selector) +
                                     ": not a safe domain and selector (a bad row in the store?)");
}

std::string key_file_name(const std::string& selector) { return selector + ".private"; }

}  // namespace

Result<Dir> DkimKeyFiles::open_top() const {
  auto top = Dir::open_or_make(dir, 0750);
  if (!top.ok()) return top.status();
  if (geteuid() != 0) return top;
  // Its parent (the state folder) is root's, so the entry cannot be swapped:
  // fixing owner and mode through the descriptor is safe. Earlier versions
  // left this folder to the key owner, who could then replace a domain
  // folder with a symlink that root followed.
  struct stat st;
  if (::fstat(top->fd(), &st) != 0) return Status(Code::kCantCreate, dir + ": cannot stat folder");
  gid_t want_group = group.value_or(0);
  if (st.st_uid != 0 || st.st_gid != want_group || (st.st_mode & 07777) != 0750) {
    if (Status s = top->set_owner_mode(0, want_group, 0750); !s.ok()) return s;
  }
  return top;
}

Result<std::optional<Dir>> DkimKeyFiles::open_domain(const std::string& domain, bool create) const {
  if (!row_safe_domain(domain)) return unsafe_key_names(domain, "");
  if (!create) {
    auto top = Dir::open(dir);
    if (!top.ok()) return std::optional<Dir>();
    return top->sub(domain);
  }
  auto top = open_top();
  if (!top.ok()) return top.status();
  auto sub = top->make_sub(domain, 0700, owner, group);
  if (!sub.ok()) return sub.status();
  return std::optional<Dir>(std::move(*sub));
}

Status DkimKeyFiles::write_key(const std::string& domain, const std::string& selector, const std::string& pem) const {
  if (!dkim_key_names_safe(domain, selector)) return unsafe_key_names(domain, selector);
  auto folder = open_domain(domain, true);
  if (!folder.ok()) return folder.status();
  return (*folder)->write_file(key_file_name(selector), pem, file_options());
}

Result<std::optional<std::string>> DkimKeyFiles::read_key(const std::string& domain,
                                                          const std::string& selector) const {
  if (!dkim_key_names_safe(domain, selector)) return unsafe_key_names(domain, selector);
  auto folder = open_domain(domain, false);
  if (!folder.ok()) return folder.status();
  if (!*folder) return std::optional<std::string>();
  return (*folder)->read_file(key_file_name(selector), kMaxKeyFileBytes);
}

bool DkimKeyFiles::has_key(const std::string& domain, const std::string& selector) const {
  if (!dkim_key_names_safe(domain, selector)) return false;
  auto folder = open_domain(domain, false);
  return folder.ok() && *folder && (*folder)->has(key_file_name(selector));
}

Status DkimKeyFiles::remove_key(const std::string& domain, const std::string& selector) const {
  if (!dkim_key_names_safe(domain, selector)) return unsafe_key_names(domain, selector);
  auto folder = open_domain(domain, false);
  if (!folder.ok()) return folder.status();
  if (!*folder) return Status::Ok();
  return (*folder)->remove(key_file_name(selector));
}

DkimKeyFiles dkim_key_files(const Settings& settings, const EnvReader& env) {
  DkimKeyFiles files;
  files.dir = settings.state_dir + "/dkim";
  std::string name = env("VMAIL_DKIM_USER").value_or("opendkim");
  if (auto ids = user_by_name(name)) {
    files.owner = ids->uid;
    files.group = ids->gid;
  } else {
    files.owner = settings.uid;
    files.group = settings.gid;
    files.warning = "VMAIL_DKIM_USER " + quote(name) + ": no such user; DKIM private keys are owned by the vmail uid " +
                    std::to_string(settings.uid) + " instead";
  }
  return files;
}

std::string dkim_key_path(const Settings& settings, const std::string& domain, const std::string& selector) {
  return settings.state_dir + "/dkim/" + domain + "/" + selector + ".private";
}

std::string dkim_txt_value(const DkimKey& key) {
  return "v=DKIM1; k=" + std::string(dkim_algorithm_name(key.algorithm)) + "; p=" + key.public_key;
}

std::vector<std::string> split_txt(std::string_view value, size_t limit) {
  std::vector<std::string> out;
  do {
    out.emplace_back(value.substr(0, limit));
    value.remove_prefix(std::min(limit, value.size()));
  } while (!value.empty());
  return out;
}

std::string DnsRecord::zone_line() const {
  std::string line = name + " " + std::to_string(ttl) + " IN " + type + " ";
  if (!strings) return line + value;
  for (size_t i = 0; i < strings->size(); ++i) line += (i ? " \"" : "\"") + (*strings)[i] + "\"";
  return line;
}

namespace {

DnsRecord txt(const std::string& name, const std::string& value) {
  return DnsRecord{name, "TXT", 3600, value, split_txt(value)};
}

}  // namespace

std::string mta_sts_policy(const DnsTarget& target, const std::string& mode) {
  return "version: STSv1\r\nmode: " + mode + "\r\nmx: " + target.server_name + "\r\nmax_age: 604800\r\n";
}

std::string mta_sts_policy_id(const std::string& policy) {
  // FNV-1a, 64 bits: stable across builds and platforms (std::hash is not).
  uint64_t h = 14695981039346656037ull;
  for (unsigned char c : policy) {
    h ^= c;
    h *= 1099511628211ull;
  }
  static const char kHex[] = "0123456789abcdef";
  std::string id(16, '0');
  for (int i = 15; i >= 0; --i, h >>= 4) id[static_cast<size_t>(i)] = kHex[h & 0xf];
  return id;
}

std::vector<DnsRecord> dns_records(const std::string& domain, const DnsTarget& target, const std::vector<DkimKey>& keys,
                                   const std::string& mta_sts_mode) {
  const std::string zone = domain + ".";
  const std::string server = target.server_name + ".";
  std::vector<DnsRecord> out;
  out.push_back(DnsRecord{zone, "MX", 3600, "10 " + server, std::nullopt});
  out.push_back(txt(zone, "v=spf1 mx -all"));
  for (const DkimKey& key : keys) out.push_back(txt(key.selector + "._domainkey." + zone, dkim_txt_value(key)));
  // Strict alignment and quarantine: every message this server sends for
  // the domain is DKIM-signed with d= equal to the From domain (alias
  // domains have their own keys), so aligned mail always passes; anything
  // else claiming the domain is forged. p=reject would be the next step
  // once the rua reports show no legitimate mail failing.
  out.push_back(txt("_dmarc." + zone, "v=DMARC1; p=quarantine; adkim=s; aspf=s; rua=mailto:postmaster@" + domain));
  // MTA-STS (RFC 8461): the policy's id, and the host its HTTPS server
  // answers as; TLS-RPT (RFC 8460): where senders report TLS failures.
  out.push_back(txt("_mta-sts." + zone, "v=STSv1; id=" + mta_sts_policy_id(mta_sts_policy(target, mta_sts_mode))));
  out.push_back(DnsRecord{"mta-sts." + zone, "CNAME", 3600, server, std::nullopt});
  out.push_back(txt("_smtp._tls." + zone, "v=TLSRPTv1; rua=mailto:postmaster@" + domain));
  auto port = [&](const char* service, uint16_t fallback) {
    auto it = target.ports.find(service);
    return std::to_string(it == target.ports.end() ? fallback : it->second);
  };
  // RFC 6186 / 8314: priority 0, weight 1, port, target.
  for (auto [label, service, fallback] :
       {std::tuple{"_submissions._tcp.", "smtps", 465}, std::tuple{"_submission._tcp.", "submission", 587},
        std::tuple{"_imaps._tcp.", "imaps", 993}, std::tuple{"_pop3s._tcp.", "pop3s", 995}}) {
    out.push_back(DnsRecord{label + zone, "SRV", 3600,
                            "0 1 " + port(service, static_cast<uint16_t>(fallback)) + " " + server, std::nullopt});
  }
  return out;
}

}  // namespace vmail
