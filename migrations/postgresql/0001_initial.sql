-- PostgreSQL version of migrations/0001_initial.sql (issue 14): the shared
-- tables of a cluster whose nodes keep SQLite replicas. Same tables, columns
-- and column order as SQLite; INTEGER is bigint, TEXT is text. Ids are not
-- serial: the writing node's replica assigns them.
--
-- A changeset is applied in any order within one transaction, so every
-- UNIQUE and PRIMARY KEY constraint is DEFERRABLE INITIALLY DEFERRED, except
-- a key that a foreign key references (PostgreSQL requires that one to be
-- immediate). Every foreign key is deferrable; ON DELETE RESTRICT still acts
-- at once (as in SQLite), so children are deleted before their parent.
--
-- lower(x COLLATE "C") lowers ASCII only, like SQLite's lower(), whatever
-- the database's locale. Timestamps are text in SQLite's
-- strftime('%Y-%m-%dT%H:%M:%SZ', 'now') form. `settings` is node-local and
-- not here. alias_destinations is created with its key columns first, the
-- shape SQLite reaches in 0002.

CREATE TABLE domains (
  id bigint PRIMARY KEY,
  name text NOT NULL UNIQUE DEFERRABLE INITIALLY DEFERRED
    CHECK (name = lower(name COLLATE "C") AND length(name) BETWEEN 3 AND 253),
  created text NOT NULL DEFAULT to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')
);

CREATE TABLE users (
  id bigint PRIMARY KEY,
  domain_id bigint NOT NULL REFERENCES domains (id) ON DELETE RESTRICT DEFERRABLE INITIALLY DEFERRED,
  local text NOT NULL CHECK (local = lower(local COLLATE "C") AND length(local) BETWEEN 1 AND 64),
  address text NOT NULL UNIQUE DEFERRABLE INITIALLY DEFERRED CHECK (address = lower(address COLLATE "C")),
  password text NOT NULL CHECK (password LIKE '{%}%'),
  name text NOT NULL DEFAULT '',
  quota bigint CHECK (quota IS NULL OR quota >= 0),
  enabled bigint NOT NULL DEFAULT 1 CHECK (enabled IN (0, 1)),
  created text NOT NULL DEFAULT to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
  updated text NOT NULL DEFAULT to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
  UNIQUE (domain_id, local) DEFERRABLE INITIALLY DEFERRED
);

-- source is `local@domain`, or `@domain` for a catch-all.
CREATE TABLE aliases (
  id bigint PRIMARY KEY,
  domain_id bigint NOT NULL REFERENCES domains (id) ON DELETE RESTRICT DEFERRABLE INITIALLY DEFERRED,
  source text NOT NULL UNIQUE DEFERRABLE INITIALLY DEFERRED CHECK (source = lower(source COLLATE "C")),
  created text NOT NULL DEFAULT to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')
);

CREATE INDEX aliases_domain ON aliases (domain_id);

CREATE TABLE alias_destinations (
  alias_id bigint NOT NULL REFERENCES aliases (id) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED,
  destination text NOT NULL CHECK (destination = lower(destination COLLATE "C")),
  position bigint NOT NULL,
  PRIMARY KEY (alias_id, destination) DEFERRABLE INITIALLY DEFERRED
);

-- One address is a mailbox or an alias source, never both. Like SQLite's
-- triggers these check inserts only (a changeset applies deletes first).
CREATE FUNCTION users_address_not_alias() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF EXISTS (SELECT 1 FROM aliases WHERE source = NEW.address) THEN
    RAISE EXCEPTION 'address is already an alias source' USING ERRCODE = 'integrity_constraint_violation';
  END IF;
  RETURN NEW;
END
$$;

CREATE TRIGGER users_address_not_alias BEFORE INSERT ON users
  FOR EACH ROW EXECUTE FUNCTION users_address_not_alias();

CREATE FUNCTION aliases_source_not_user() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF EXISTS (SELECT 1 FROM users WHERE address = NEW.source) THEN
    RAISE EXCEPTION 'source is already a mailbox' USING ERRCODE = 'integrity_constraint_violation';
  END IF;
  RETURN NEW;
END
$$;

CREATE TRIGGER aliases_source_not_user BEFORE INSERT ON aliases
  FOR EACH ROW EXECUTE FUNCTION aliases_source_not_user();
