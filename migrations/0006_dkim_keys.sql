-- DKIM keys (issue 13): one row per key of a domain. The private key is a
-- file ($VMAIL_STATE_DIR/dkim/<domain>/<selector>.private), never a column;
-- public_key is what the DNS record's p= carries (base64 of the DER
-- SubjectPublicKeyInfo for rsa, of the raw 32-byte key for ed25519).
-- state: active = signs and is listed in DNS; retired = replaced by a newer
-- key, still listed until the admin removes it, no longer signs.
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

-- At most one signing key per domain and algorithm.
CREATE UNIQUE INDEX dkim_keys_one_active ON dkim_keys (domain_id, algorithm) WHERE state = 'active';
