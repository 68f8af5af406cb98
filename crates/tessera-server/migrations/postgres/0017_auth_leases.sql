-- Nothing to create: PostgreSQL has had the change marker and its leases since
-- 0009_auth_epoch.sql and 0010_auth_leases.sql; migrations/sqlite/0017_auth_leases.sql
-- gives SQLite the same. This file keeps the migration numbers aligned.
SELECT 1;
