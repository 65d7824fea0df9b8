// The one policy for values read back from the database before they are
// written into a file another program parses: the Dovecot users file, the
// Postfix maps (exporters/checked_rows) and the passwd and aliases lines of
// the NSS module and `vmail getent` (src/lookup). Rows are untrusted (a hand
// edit or another tool may have stored anything); a value that fails here is
// left out and never repaired.
//
// The checks are about structure only: nothing that passes can add a line, a
// field or a path component. They are plain ASCII rules with no libidn2 (this
// file is in vmail_base, which the NSS module links), so they are looser than
// the input validators of validate.h (which also decode punycode): every value
// the CLI stores passes.
//
// Aliases: an alias keeps its safe destinations and loses only the unsafe ones
// (reported by the exporters); an alias left with none is left out. Dropping
// the whole alias instead would not stop mail from going elsewhere: its mail
// would fall to a catch-all or bounce, while an unsafe destination can never
// receive mail anyway (no map line can carry it). Both readers apply this, so
// `getent -s vmail aliases` and the exported `virtual` map agree.
//
// Pure functions of their arguments: thread-safe, never throw, no allocation.
#pragma once

#include <string_view>

namespace vmail {

// A local part: a-z 0-9 . _ -, 1-64 characters, no leading, trailing or
// doubled dot. It becomes a path component of the home folder, so this is
// what keeps `..` and `/` out of it.
bool row_safe_local(std::string_view local);

// A domain: lowercase LDH labels of 1-63 characters (no leading or trailing
// '-'), at least two labels, at most 253 characters.
bool row_safe_domain(std::string_view domain);

// `local@domain` with both parts safe. Also the rule for an alias destination.
bool row_safe_address(std::string_view address);

// An alias source: a safe address or a catch-all `@domain`.
bool row_safe_alias_source(std::string_view source);

// A user row: a safe address that is exactly `local` '@' `domain`.
bool row_safe_user(std::string_view address, std::string_view local, std::string_view domain);

// A display name (passwd gecos): at most 1024 bytes, no ':' and no control
// character (a newline would forge a second line).
bool row_safe_display_name(std::string_view name);

// The folder every home is built under: absolute, no `.` or `..` component,
// no ':' or control character.
bool row_safe_mail_dir(std::string_view mail_dir);

}  // namespace vmail
