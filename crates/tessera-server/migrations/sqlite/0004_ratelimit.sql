-- Nothing to create: a SQLite deployment is a single instance and counts rate
-- limits in process (src/ratelimit/memory.rs). The shared counters of
-- migrations/postgres/0004_ratelimit.sql exist only there; this file keeps the
-- migration numbers of both backends aligned.
SELECT 1;
