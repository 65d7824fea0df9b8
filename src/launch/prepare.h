// The launcher's preparation steps before any daemon runs: one launcher per
// root, the vmail account, folders, database and free ports. Each step is
// idempotent: a restart on the same VMAIL_ROOT redoes them all and keeps
// every user, alias, password and message.
#pragma once

#include <string>
#include <vector>

#include "core/status.h"
#include "launch/launch_settings.h"

namespace vmail {

// Takes an exclusive lock on settings.lock_file (held until the process
// exits) and writes our PID into it. kConfig when another vmail-launch holds it.
Status lock_instance(const LaunchSettings& settings);

// Ensures a group with VMAIL_GID and a user with VMAIL_UID exist, creating
// them ("vmail", no login) with groupadd/useradd when missing. kConfig when
// they cannot be created.
Status ensure_vmail_account(uint32_t uid, uint32_t gid);

// Creates every folder the daemons use under VMAIL_ROOT with its owner and
// mode, and OpenDKIM's KeyTable and SigningTable (empty) when missing. kConfig
// when the postfix, dovecot or opendkim user is missing. Warnings (e.g. a
// parent folder others cannot search) go to *warnings.
Status prepare_dirs(const LaunchSettings& settings, std::vector<std::string>* warnings);

// Postfix's queue lives on the state volume and outlives the image: when its
// files belong to another uid than this image's postfix user (an upgrade to
// an image whose packages numbered the users differently), runs
// `postfix set-permissions` so that queued mail is delivered, not stranded.
// Needs the rendered main.cf. The message names what was repaired.
Result<std::string> repair_queue_owner(const LaunchSettings& settings);

// Versions before the queue moved to the state volume kept it at
// $VMAIL_ROOT/var/spool/postfix. When that folder still holds queued mail and
// the queue folder holds none, moves the queue's message folders over (a
// rename each, which keeps the inode-based queue file names valid) so an
// upgraded host install delivers what its old queue held. The message says
// what was moved, or why nothing could be (another file system: by hand);
// empty when there was nothing to do.
std::string adopt_legacy_queue(const LaunchSettings& settings);

// Opens the database, backs it up into settings.backup_dir first when a
// migration is pending, migrates, records the export settings and the
// endpoints, and ensures the MAIL_DOMAIN domain. *backup gets the backup path
// when one was made.
Status prepare_database(const LaunchSettings& settings, std::string* backup);

// OpenDKIM's view of the DKIM key folder ($VMAIL_STATE_DIR/dkim, or the
// state folder before it exists), by its RequireSafeKeys rules (key_safety.h).
// It would refuse every key below an unsafe folder and so defer every
// message from a login: kConfig naming the folder and the fix, unless
// VMAIL_DKIM_REQUIRE_SAFE_KEYS=no (then a warning). A folder refused only for
// being a sticky root-owned one like /tmp is safe in fact: a warning says
// RequireSafeKeys is off for that reason (see opendkim_require_safe_keys).
Status check_dkim_key_folder(const LaunchSettings& settings, std::vector<std::string>* warnings);

// The RequireSafeKeys value OpenDKIM is given: VMAIL_DKIM_REQUIRE_SAFE_KEYS,
// except "no" when the key folder is refused only for a sticky root-owned
// folder above it (the launcher then judged the chain itself).
bool opendkim_require_safe_keys(const LaunchSettings& settings);

// Dovecot's auth_policy_hash_nonce: made once (32 random bytes, hex) in
// $VMAIL_STATE_DIR/auth-policy-nonce, mode 0600, through the state folder's
// descriptor; kept as it is afterwards. dovecot.conf names the file
// (`<path`), so the secret is never in the world-readable config.
Status ensure_policy_nonce(const LaunchSettings& settings);

// Checks that every service port can be bound on the listening address.
// kConfig naming the variable and the address when one is in use.
Status check_ports_free(const Endpoints& endpoints);

}  // namespace vmail
