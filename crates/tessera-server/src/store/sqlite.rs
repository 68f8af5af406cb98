//! SQLite: one file, WAL mode (readers never wait for the writer), created on first
//! use with its directory.

use crate::error::{Error, Result};
use sqlx::any::AnyPoolOptions;
use sqlx::{AnyPool, Executor as _};
use std::path::Path;
use std::time::Duration;

pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("migrations/sqlite");

pub async fn connect(path: &Path) -> Result<AnyPool> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| {
            Error::Config(format!(
                "cannot create database directory {}: {e}",
                dir.display()
            ))
        })?;
    }
    let path = path
        .to_str()
        .ok_or_else(|| Error::Config(format!("database path {} is not UTF-8", path.display())))?;
    // sqlx's SQLite options turn foreign keys on and wait up to 5 s on a locked
    // database; `mode=rwc` creates the file.
    let url = format!("sqlite://{path}?mode=rwc");
    let pool = AnyPoolOptions::new()
        .max_connections(8)
        .acquire_timeout(Duration::from_secs(10))
        .after_connect(|conn, _meta| {
            Box::pin(async move {
                // WAL persists in the file; `synchronous=NORMAL` is the documented
                // safe pairing with WAL (durable across process crashes).
                conn.execute("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;")
                    .await?;
                Ok(())
            })
        })
        .connect(&url)
        .await?;
    Ok(pool)
}
