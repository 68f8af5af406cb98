//! Shared rate-limit counters (PostgreSQL only): one row per bucket holding its
//! sliding window, decided by one upsert (migration `0008_shared_counters.sql`).

use super::{Backend, Store};
use crate::error::{Error, Result};

impl Store {
    /// Counts one request against `key` when under `limit` in a window of
    /// `period` seconds: (allowed, remaining, reset).
    ///
    /// One statement, one round trip. A new bucket is inserted; an existing one is
    /// updated from its current row, which `ON CONFLICT DO UPDATE` reads latest
    /// and locks (READ COMMITTED included) until the statement commits: instances
    /// deciding on one bucket take turns on its row and never both take the last
    /// slot, and nothing else is locked.
    pub async fn take_rate_limit(
        &self,
        key: &str,
        limit: u32,
        period: i64,
        now: i64,
    ) -> Result<(bool, i64, i64)> {
        let sql = "INSERT INTO rate_limit_buckets AS b \
                   (key, seconds, counts, newest, allowed, remaining, reset_at) \
                   SELECT $1, s.seconds, s.counts, s.newest, s.allowed, s.remaining, s.reset_at \
                   FROM tessera_rate_limit_step('{}', '{}', $2, $3, $4) s \
                   ON CONFLICT (key) DO UPDATE \
                   SET (seconds, counts, newest, allowed, remaining, reset_at) = \
                   (SELECT s.seconds, s.counts, s.newest, s.allowed, s.remaining, s.reset_at \
                    FROM tessera_rate_limit_step(b.seconds, b.counts, $2, $3, $4) s) \
                   RETURNING allowed, remaining, reset_at";
        self.one(sql, (key, now, i64::from(limit), period)).await
    }

    /// Deletes the buckets whose newest second is at or before `before`.
    pub async fn prune_rate_limits(&self, before: i64) -> Result<()> {
        let sql = "DELETE FROM rate_limit_buckets WHERE newest <= $1";
        self.execute(sql, (before,)).await?;
        Ok(())
    }

    /// The shared counters need PostgreSQL.
    pub fn require_postgres_for_rate_limits(&self) -> Result<()> {
        if self.backend == Backend::Postgres {
            return Ok(());
        }
        Err(Error::Config(
            "rate_limit_backend = \"postgres\" needs a postgres:// database; \
             with SQLite use \"memory\""
                .into(),
        ))
    }
}
