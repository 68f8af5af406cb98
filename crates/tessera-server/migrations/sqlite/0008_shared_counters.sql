-- Nothing to create: SQLite counts rate limits in process. This file keeps the
-- migration numbers of both backends aligned with
-- migrations/postgres/0008_shared_counters.sql.
SELECT 1;
