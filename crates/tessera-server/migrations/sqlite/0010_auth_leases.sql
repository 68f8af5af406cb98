-- Nothing to create: a SQLite database has one server, which reads the change
-- marker itself (src/store/sqlite.rs). This file keeps the migration numbers
-- aligned with migrations/postgres/0010_auth_leases.sql.
SELECT 1;
