//! The shared limiter on PostgreSQL: each bucket's window is a row, so several
//! `tesserad` instances on one database together admit each limit once.
//!
//! One statement per request ([`Store::take_rate_limit`]): an upsert whose update
//! runs the same arithmetic as [`super::Window::take`] (the pure SQL function
//! `tessera_rate_limit_step`, migration `0008_shared_counters.sql`) on the row it
//! has locked. That row lock, held for one statement, is what orders instances
//! deciding on the same bucket; different buckets never wait for each other.
//! (Until 0007 a PL/pgSQL function took a per-bucket advisory lock and ran five
//! statements under it.)
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
        let (allowed, remaining, reset) = self
            .store
            .take_rate_limit(key, limit, super::PERIOD_SECS, now)
            .await?;
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
