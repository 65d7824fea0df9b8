-- Placeholder so that 0005 applies on this branch: number 3 belongs to the
-- routing work. Delete this file when that branch's 0003 is merged.
SELECT 1;
