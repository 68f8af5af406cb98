//! The shared limiter: the window of each bucket lives in PostgreSQL, so several
//! `tesserad` instances on one database together admit each limit once.
//!
//! One round trip per request: `tessera_rate_limit_take` (migration
//! `0004_ratelimit.sql`) takes a transaction-scoped advisory lock on the bucket,
//! drops seconds that left the window, counts, admits when under the limit, and
//! computes the headers exactly as [`super::Window::take`] does. Being a VOLATILE
//! function, each statement in it sees what other instances committed before the
//! lock was granted, so two instances never both take the last slot.
//!
//! The counters are in an UNLOGGED table: no WAL per request; a PostgreSQL crash
//! forgets at most one minute of counts, which a rate limit can afford.

use super::Decision;
use crate::error::{Error, Result};
use crate::store::{Backend, Store};
use sqlx::AnyPool;

pub struct PostgresLimiter {
    pool: AnyPool,
}

impl PostgresLimiter {
    pub fn new(store: &Store) -> Result<Self> {
        if store.backend() != Backend::Postgres {
            return Err(Error::Config(
                "rate_limit_backend = \"postgres\" needs a postgres:// database; \
                 with SQLite use \"memory\""
                    .into(),
            ));
        }
        Ok(Self {
            pool: store.pool().clone(),
        })
    }

    pub async fn take(&self, key: &str, limit: u32, now: i64) -> Result<Decision> {
        let (allowed, remaining, reset): (bool, i64, i64) = sqlx::query_as(
            "SELECT allowed, remaining, reset_at FROM tessera_rate_limit_take($1, $2, $3)",
        )
        .bind(key)
        .bind(now)
        .bind(i64::from(limit))
        .fetch_one(&self.pool)
        .await?;
        Ok(Decision {
            allowed,
            limit,
            remaining: u32::try_from(remaining).unwrap_or(0),
            reset,
            now,
        })
    }

    /// Deletes seconds that left every window (buckets nobody touches again).
    pub async fn prune(&self, now: i64) -> Result<()> {
        sqlx::query("DELETE FROM rate_limit_windows WHERE second <= $1")
            .bind(now - super::PERIOD_SECS)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}
