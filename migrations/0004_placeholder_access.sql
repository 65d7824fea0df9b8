-- Placeholder so that 0005 applies on this branch: number 4 belongs to the
-- Dovecot-side work. Delete this file when that branch's 0004 is merged.
SELECT 1;
