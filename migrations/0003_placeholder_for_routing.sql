-- Placeholder so that 0004 (this branch) has a predecessor: number 0003
-- belongs to the routing branch. When merging, delete this file and keep
-- the routing branch's 0003.
SELECT 1;
