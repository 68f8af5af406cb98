//! The shared limiter: the window of each bucket lives in PostgreSQL, so several
//! `tesserad` instances on one database together admit each limit once.
//!
//! One round trip per request: `tessera_rate_limit_take` (migration
//! `0004_ratelimit.sql`, called by [`Store::take_rate_limit`]) takes a
//! transaction-scoped advisory lock on the bucket, drops seconds that left the
//! window, counts, admits when under the limit, and computes the headers exactly
//! as [`super::Window::take`] does. Being a VOLATILE function, each statement in
//! it sees what other instances committed before the lock was granted, so two
//! instances never both take the last slot.
//!
//! The counters are in an UNLOGGED table: no WAL per request; a PostgreSQL crash
//! forgets at most one minute of counts, which a rate limit can afford.

use super::Decision;
use crate::error::Result;
use crate::store::Store;

pub struct PostgresLimiter {
    store: Store,
}

impl PostgresLimiter {
    pub fn new(store: &Store) -> Result<Self> {
        store.require_postgres_for_rate_limits()?;
        Ok(Self {
            store: store.clone(),
        })
    }

    pub async fn take(&self, key: &str, limit: u32, now: i64) -> Result<Decision> {
        let (allowed, remaining, reset) = self.store.take_rate_limit(key, limit, now).await?;
        Ok(Decision {
            allowed,
            limit,
            remaining: u32::try_from(remaining).unwrap_or(0),
            reset,
            now,
        })
    }

    pub async fn refund(&self, key: &str, taken_at: i64) -> Result<()> {
        self.store.refund_rate_limit(key, taken_at).await
    }

    /// Deletes seconds that left every window (buckets nobody touches again).
    pub async fn prune(&self, now: i64) -> Result<()> {
        self.store.prune_rate_limits(now - super::PERIOD_SECS).await
    }
}
