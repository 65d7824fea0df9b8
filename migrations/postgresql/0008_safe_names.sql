-- Issue 22: names that become path components or map keys on every node (a
-- domain's DKIM folder, a selector's key file, a mailbox's home, an alias's
-- map line) follow the grammar the nodes' readers check again
-- (src/core/row_policy.h, dkim_key_names_safe in src/core/dkim.h): lowercase
-- LDH labels, at least two; local parts of a-z 0-9 . _ - without a leading,
-- trailing or doubled dot; a selector is one DNS label.
--
-- NOT VALID: a row already there is not re-checked here (every node skips a
-- bad one with a log line); every row inserted or changed from now on is.
ALTER TABLE domains ADD CONSTRAINT domains_name_safe
  CHECK (name ~ '^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$') NOT VALID;
ALTER TABLE users ADD CONSTRAINT users_local_safe
  CHECK (local ~ '^[a-z0-9_-]+(\.[a-z0-9_-]+)*$') NOT VALID;
ALTER TABLE users ADD CONSTRAINT users_address_safe
  CHECK (address ~ '^[a-z0-9_-]+(\.[a-z0-9_-]+)*@([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$') NOT VALID;
ALTER TABLE aliases ADD CONSTRAINT aliases_source_safe
  CHECK (source ~ '^([a-z0-9_-]+(\.[a-z0-9_-]+)*)?@([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$') NOT VALID;
ALTER TABLE alias_destinations ADD CONSTRAINT alias_destinations_safe
  CHECK (destination ~ '^[a-z0-9_-]+(\.[a-z0-9_-]+)*@([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$') NOT VALID;
ALTER TABLE forward_destinations ADD CONSTRAINT forward_destinations_safe
  CHECK (destination ~ '^[a-z0-9_-]+(\.[a-z0-9_-]+)*@([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$') NOT VALID;
ALTER TABLE dkim_keys ADD CONSTRAINT dkim_keys_selector_safe
  CHECK (selector ~ '^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$') NOT VALID;
ALTER TABLE vmail_dkim_private ADD CONSTRAINT vmail_dkim_private_names_safe
  CHECK (domain ~ '^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$'
         AND selector ~ '^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$') NOT VALID;
