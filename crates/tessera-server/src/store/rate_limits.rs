//! Shared rate-limit counters (PostgreSQL only): one sliding window per bucket,
//! kept and decided by `tessera_rate_limit_take` (migration `0004_ratelimit.sql`).

use super::{Backend, Store};
use crate::error::{Error, Result};

impl Store {
    /// Counts one request against `key` when under `limit`: (allowed, remaining,
    /// reset). One round trip; the function serializes instances per bucket.
    pub async fn take_rate_limit(
        &self,
        key: &str,
        limit: u32,
        now: i64,
    ) -> Result<(bool, i64, i64)> {
        let sql = "SELECT allowed, remaining, reset_at FROM tessera_rate_limit_take($1, $2, $3)";
        self.one(sql, (key, now, i64::from(limit))).await
    }

    /// Takes one request back from the second `tessera_rate_limit_take` counted
    /// it in (`taken_at`, or after a clock step back the newest), deleting the
    /// row when it empties so the function's Reset stays exact. One statement: a second
    /// holding one request is deleted, a fuller one decremented (the two
    /// conditions exclude each other on any row version).
    pub async fn refund_rate_limit(&self, key: &str, taken_at: i64) -> Result<()> {
        let sql = "WITH target AS ( \
                     SELECT second FROM rate_limit_windows \
                     WHERE key = $1 AND second >= $2 AND count > 0 \
                     ORDER BY second = $2 DESC, second DESC LIMIT 1), \
                   emptied AS ( \
                     DELETE FROM rate_limit_windows w USING target t \
                     WHERE w.key = $1 AND w.second = t.second AND w.count = 1) \
                   UPDATE rate_limit_windows w SET count = w.count - 1 FROM target t \
                   WHERE w.key = $1 AND w.second = t.second AND w.count > 1";
        self.execute(sql, (key, taken_at)).await?;
        Ok(())
    }

    /// Deletes seconds at or before `before` from every window.
    pub async fn prune_rate_limits(&self, before: i64) -> Result<()> {
        let sql = "DELETE FROM rate_limit_windows WHERE second <= $1";
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
