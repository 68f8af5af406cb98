-- Nothing to create: SQLite's own change marker (`PRAGMA data_version`) serves
-- the per-request authentication cache (src/store/sqlite.rs). This file keeps the
-- migration numbers aligned with migrations/postgres/0009_auth_epoch.sql.
SELECT 1;
