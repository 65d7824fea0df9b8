-- PostgreSQL version of migrations/0005 (see 0001 for the rules): the audit
-- log. old_value/new_value stay text (a replica copies them byte for byte);
-- the check refuses text that does not parse as JSON, as SQLite's
-- json_valid() does, with a check violation rather than a cast error.
CREATE FUNCTION vmail_json_valid(value text) RETURNS boolean LANGUAGE plpgsql IMMUTABLE STRICT AS $$
BEGIN
  PERFORM value::json;
  RETURN true;
EXCEPTION WHEN data_exception THEN
  RETURN false;
END
$$;

CREATE TABLE audit_log (
  id bigint PRIMARY KEY DEFERRABLE INITIALLY DEFERRED,
  time text NOT NULL DEFAULT to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
  uid bigint NOT NULL,
  sudo_user text,
  command text NOT NULL,
  action text NOT NULL,
  object text NOT NULL,
  old_value text CHECK (old_value IS NULL OR vmail_json_valid(old_value)),
  new_value text CHECK (new_value IS NULL OR vmail_json_valid(new_value))
);

CREATE INDEX audit_log_time ON audit_log (time);
