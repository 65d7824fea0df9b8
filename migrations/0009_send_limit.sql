-- Issue 25: a per-user limit on recipients per hour (`vmail user limit ADDR
-- --per-hour N|none|default`), enforced by vmail-policyd at RCPT. NULL: the
-- server's VMAIL_SEND_LIMIT; 0: no limit; N: N recipients in any hour.
ALTER TABLE users ADD COLUMN send_limit INTEGER CHECK (send_limit IS NULL OR send_limit >= 0);
