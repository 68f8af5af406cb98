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

/// Notices commits to a WAL-mode SQLite database by any process, without a query.
///
/// SQLite keeps a WAL-index header at the start of the `-shm` file (two copies,
/// 48 bytes each; <https://sqlite.org/walformat.html> §2.2). Every write
/// transaction changes it (`iChange` counter, `mxFrame`, and new salts when the WAL
/// restarts), and it is updated before the commit returns. So: equal headers now and
/// at an earlier read mean no commit happened in between, in this process or another
/// one on the machine (SQLite's own readers rely on the same header to know whether
/// their page cache is stale). Anything unexpected — no file, the two copies
/// differing mid-update, not initialised — reads as "unknown", and callers query.
#[derive(Debug)]
pub struct ChangeWatch {
    shm_path: std::path::PathBuf,
}

/// An opaque snapshot of the WAL-index header.
pub type Version = [u8; 48];

impl ChangeWatch {
    pub fn new(db_path: &Path) -> Self {
        let mut shm = db_path.as_os_str().to_owned();
        shm.push("-shm");
        Self {
            shm_path: shm.into(),
        }
    }

    /// The current header, or `None` when it cannot be trusted.
    pub fn version(&self) -> Option<Version> {
        use std::os::unix::fs::FileExt as _;
        // Opened each time: SQLite deletes and recreates `-shm` when the last
        // connection closes, and a kept descriptor would watch a dead file.
        let file = std::fs::File::open(&self.shm_path).ok()?;
        let mut both = [0u8; 96];
        file.read_exact_at(&mut both, 0).ok()?;
        let (first, second) = both.split_at(48);
        const IS_INIT: usize = 12;
        if first != second || first[IS_INIT] != 1 {
            return None;
        }
        first.try_into().ok()
    }
}
