// Whether OpenDKIM will use a private key file, judged before it has to.
//
// With RequireSafeKeys (the default) OpenDKIM (opendkim.c dkimf_securefile)
// resolves a key's path and refuses the key when any folder from / down is
// writable by others, by a group with other members, or by an owner that is
// neither root nor the user OpenDKIM runs as, or when the file itself is
// readable by others. It does not honour the sticky bit, so every key below
// /tmp is refused although only root can rename what root made there. The
// refusal is a milter tempfail for every signed message.
//
// The launcher checks the key folder at start (refusing or warning in one
// line) and `vmail health` checks each key file when a test signature fails.
// Thread-safe: the group-membership walk (getpwent) is serialised.
#pragma once

#include <sys/types.h>

#include <string>

namespace vmail {

// Who OpenDKIM runs as (its UserID).
struct KeyReader {
  uid_t uid = 0;
  gid_t gid = 0;
  std::string name;  // "opendkim"
};

enum class KeyChain {
  kSafe,        // OpenDKIM accepts it
  kStickyOnly,  // OpenDKIM refuses it only for a root-owned sticky folder
                // writable by everyone (/tmp), below which every folder is
                // root's or `reader`'s: safe in fact
  kUnsafe,      // others can replace or read the key
};

struct KeyChainCheck {
  KeyChain verdict = KeyChain::kSafe;
  // The first folder or file at fault and why, e.g. "/tmp is writable by
  // everyone (mode 1777)"; "" when safe.
  std::string reason;
};

// Checks `path` (a folder that holds keys, or a key file) and every folder
// above it, after resolving symlinks, by OpenDKIM's rules for `reader`. A
// path that does not exist (or cannot be resolved) is kUnsafe with the errno
// text as the reason.
KeyChainCheck check_key_chain(const std::string& path, const KeyReader& reader);

// Why `reader` cannot open the key file `path` (missing, not a regular file,
// no permission on the file or a folder above it), or "" when it can. Judged
// from owners and modes, so root can ask on OpenDKIM's behalf.
std::string key_unreadable_reason(const std::string& path, const KeyReader& reader);

}  // namespace vmail
