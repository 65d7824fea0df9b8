-- Alias domains (every address of the target answers at the alias domain) and
-- mailboxes that forward their mail. Both are kept out of `users` and
-- `domains` so that those tables' columns stay as they are.

-- An alias domain is a row of `domains` (so it is unique among domains and
-- exported to vdomains) that has no users or aliases of its own.
CREATE TABLE alias_domains (
  domain_id INTEGER PRIMARY KEY REFERENCES domains (id) ON DELETE CASCADE,
  target_id INTEGER NOT NULL REFERENCES domains (id) ON DELETE RESTRICT,
  CHECK (domain_id <> target_id)
);

CREATE INDEX alias_domains_target ON alias_domains (target_id);

-- keep = 1: a copy stays in the mailbox as well.
CREATE TABLE forwards (
  user_id INTEGER PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
  keep INTEGER NOT NULL CHECK (keep IN (0, 1))
);

-- Key columns first (see 0002).
CREATE TABLE forward_destinations (
  user_id INTEGER NOT NULL REFERENCES forwards (user_id) ON DELETE CASCADE,
  destination TEXT NOT NULL CHECK (destination = lower(destination)),
  position INTEGER NOT NULL,
  PRIMARY KEY (user_id, destination)
) WITHOUT ROWID;
