-- Issue 22: PostgreSQL's 0008 tightens its CHECKs on names that become path
-- components (domains, local parts, alias sources and destinations, DKIM
-- selectors). Here nothing changes: every reader of this file re-checks each
-- row before it becomes a path, a map line or terminal output
-- (src/core/row_policy.h), and on a replica a CHECK would turn one bad row
-- replicated from the shared store into a follower that stops, instead of a
-- row that is skipped with a log line.
SELECT 1;
