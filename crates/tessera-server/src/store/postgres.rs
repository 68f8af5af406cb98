//! PostgreSQL: several `tesserad` instances may share one database.

use crate::error::Result;
use sqlx::AnyPool;
use sqlx::any::AnyPoolOptions;
use std::time::Duration;

/// Per-request look-ups in flight at once, and keys answered per query
/// (see [`super::batch`]).
pub const BATCH_WORKERS: usize = 4;
pub const MAX_BATCH: usize = 64;

pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("migrations/postgres");

pub async fn connect(url: &str) -> Result<AnyPool> {
    let pool = AnyPoolOptions::new()
        .max_connections(8)
        // Fail fast while the database is down, so requests get a 503 rather
        // than hang; the pool reconnects by itself when it is back.
        .acquire_timeout(Duration::from_secs(3))
        .connect(url)
        .await?;
    Ok(pool)
}
