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

    /// Takes one request back from the second [`Store::take_rate_limit`] counted
    /// it in (`taken_at`, or after a clock step back the newest later one), as
    /// `Window::refund` does: that second's count goes down by one and a second
    /// left empty is removed from the arrays, so the next decision's Reset stays
    /// exact. One statement on the bucket's row, under the same row lock as a
    /// decision; nothing happens when no such second is counted (never below
    /// zero). The row's last decision (`allowed`, `remaining`, `reset_at`) is only
    /// what that upsert returned and is left alone.
    pub async fn refund_rate_limit(&self, key: &str, taken_at: i64) -> Result<()> {
        let sql = "UPDATE rate_limit_buckets AS b \
                   SET (seconds, counts, newest) = ( \
                     SELECT coalesce(array_agg(r.s ORDER BY r.i) FILTER (WHERE r.c > 0), '{}'), \
                            coalesce(array_agg(r.c ORDER BY r.i) FILTER (WHERE r.c > 0), '{}'), \
                            coalesce(max(r.s) FILTER (WHERE r.c > 0), b.newest) \
                     FROM (SELECT u.s, u.i, u.c - (u.i = t.i)::int AS c \
                           FROM unnest(b.seconds, b.counts) WITH ORDINALITY AS u(s, c, i) \
                           CROSS JOIN ( \
                             SELECT v.i FROM unnest(b.seconds, b.counts) WITH ORDINALITY AS v(s, c, i) \
                             WHERE v.c > 0 AND v.s >= $2 \
                             ORDER BY v.s = $2 DESC, v.i DESC LIMIT 1) t) r) \
                   WHERE b.key = $1 AND EXISTS ( \
                     SELECT 1 FROM unnest(b.seconds, b.counts) AS w(s, c) \
                     WHERE w.c > 0 AND w.s >= $2)";
        self.execute(sql, (key, taken_at)).await?;
        Ok(())
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
