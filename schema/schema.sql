-- The full current schema: what migrating an empty database yields.
-- src/core/schema_test.cc proves it; keep it in step with migrations/.

CREATE TABLE domains (
  id INTEGER PRIMARY KEY,
  name TEXT NOT NULL UNIQUE CHECK (name = lower(name) AND length(name) BETWEEN 3 AND 253),
  created TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now'))
);

CREATE TABLE users (
  id INTEGER PRIMARY KEY,
  domain_id INTEGER NOT NULL REFERENCES domains (id) ON DELETE RESTRICT,
  local TEXT NOT NULL CHECK (local = lower(local) AND length(local) BETWEEN 1 AND 64),
  address TEXT NOT NULL UNIQUE CHECK (address = lower(address)),
  password TEXT NOT NULL CHECK (password LIKE '{%}%'),
  name TEXT NOT NULL DEFAULT '',
  quota INTEGER CHECK (quota IS NULL OR quota >= 0),
  enabled INTEGER NOT NULL DEFAULT 1 CHECK (enabled IN (0, 1)),
  created TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now')),
  updated TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now')), send_limit INTEGER CHECK (send_limit IS NULL OR send_limit >= 0),
  UNIQUE (domain_id, local)
);

-- source is `local@domain`, or `@domain` for a catch-all.
CREATE TABLE aliases (
  id INTEGER PRIMARY KEY,
  domain_id INTEGER NOT NULL REFERENCES domains (id) ON DELETE RESTRICT,
  source TEXT NOT NULL UNIQUE CHECK (source = lower(source)),
  created TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now'))
);

CREATE INDEX aliases_domain ON aliases (domain_id);

-- Key columns first (see migrations/0002): SQLite 3.40's integrity_check
-- misreads a WITHOUT ROWID table with a non-key column between key columns.
CREATE TABLE alias_destinations (
  alias_id INTEGER NOT NULL REFERENCES aliases (id) ON DELETE CASCADE,
  destination TEXT NOT NULL CHECK (destination = lower(destination)),
  position INTEGER NOT NULL,
  PRIMARY KEY (alias_id, destination)
) WITHOUT ROWID;

-- An alias domain (migrations/0003): a row of `domains` without users or
-- aliases of its own; every address of the target answers at it.
CREATE TABLE alias_domains (
  domain_id INTEGER PRIMARY KEY REFERENCES domains (id) ON DELETE CASCADE,
  target_id INTEGER NOT NULL REFERENCES domains (id) ON DELETE RESTRICT,
  CHECK (domain_id <> target_id)
);

CREATE INDEX alias_domains_target ON alias_domains (target_id);

-- A mailbox that forwards; keep = 1: a copy stays in the mailbox as well.
CREATE TABLE forwards (
  user_id INTEGER PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
  keep INTEGER NOT NULL CHECK (keep IN (0, 1))
);

CREATE TABLE forward_destinations (
  user_id INTEGER NOT NULL REFERENCES forwards (user_id) ON DELETE CASCADE,
  destination TEXT NOT NULL CHECK (destination = lower(destination)),
  position INTEGER NOT NULL,
  PRIMARY KEY (user_id, destination)
) WITHOUT ROWID;

-- Per-service access (`vmail user access`): a row per service the mailbox may
-- not use; no row = on (migrations/0004).
CREATE TABLE user_access_denied (
  user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  service TEXT NOT NULL CHECK (service IN ('imap', 'pop3', 'sieve', 'send', 'receive')),
  PRIMARY KEY (user_id, service)
) WITHOUT ROWID;

-- Export settings recorded by vmail-launch (VMAIL_MAIL_DIR, VMAIL_MAP_TYPE, ...).
CREATE TABLE settings (
  name TEXT PRIMARY KEY,
  value TEXT NOT NULL
) WITHOUT ROWID;

-- Node-local replication state (migrations/0007): `cluster` = upstream
-- cluster id, `seq` = last applied change; empty on a standalone database.
CREATE TABLE replication (
  name TEXT PRIMARY KEY,
  value TEXT NOT NULL
) WITHOUT ROWID;

-- The audit log (migrations/0005): one row per committed change, written in
-- the change's own transaction; JSON values never hold a password or hash.
CREATE TABLE audit_log (
  id INTEGER PRIMARY KEY,
  time TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now')),
  uid INTEGER NOT NULL,
  sudo_user TEXT,
  command TEXT NOT NULL,
  action TEXT NOT NULL,
  object TEXT NOT NULL,
  old_value TEXT CHECK (old_value IS NULL OR json_valid(old_value)),
  new_value TEXT CHECK (new_value IS NULL OR json_valid(new_value))
);

CREATE INDEX audit_log_time ON audit_log (time);

-- DKIM keys (migrations/0006): the private key is a file, never a column;
-- public_key is the DNS record's p= value. active = signs and is listed;
-- retired = still listed after a rotation, no longer signs.
CREATE TABLE dkim_keys (
  id INTEGER PRIMARY KEY,
  domain_id INTEGER NOT NULL REFERENCES domains (id) ON DELETE CASCADE,
  selector TEXT NOT NULL CHECK (selector = lower(selector) AND length(selector) BETWEEN 1 AND 63),
  algorithm TEXT NOT NULL CHECK (algorithm IN ('rsa', 'ed25519')),
  public_key TEXT NOT NULL CHECK (length(public_key) > 0),
  state TEXT NOT NULL DEFAULT 'active' CHECK (state IN ('active', 'retired')),
  created TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now')),
  UNIQUE (domain_id, selector)
);

CREATE UNIQUE INDEX dkim_keys_one_active ON dkim_keys (domain_id, algorithm) WHERE state = 'active';

-- One address is a mailbox or an alias source, never both.
CREATE TRIGGER users_address_not_alias BEFORE INSERT ON users
WHEN EXISTS (SELECT 1 FROM aliases WHERE source = NEW.address)
BEGIN
  SELECT RAISE(ABORT, 'address is already an alias source');
END;

CREATE TRIGGER aliases_source_not_user BEFORE INSERT ON aliases
WHEN EXISTS (SELECT 1 FROM users WHERE address = NEW.source)
BEGIN
  SELECT RAISE(ABORT, 'source is already a mailbox');
END;
