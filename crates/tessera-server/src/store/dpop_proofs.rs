//! The DPoP replay cache (RFC 9449 §11.1): every proof accepted, by hash of its
//! key's thumbprint and its `jti`, until its `iat` leaves the accepted window.
//!
//! PostgreSQL keeps it in the database (`migrations/postgres/0007_dpop.sql`),
//! shared by every instance. SQLite keeps it in a file of its own beside the
//! database, `<database>-dpop` (same directory, so every process on the file
//! shares it too): an insert per request in the main file would be a commit
//! there, and every commit empties the per-request verification cache
//! ([`super::auth_cache`]).

use super::Store;
use crate::error::Result;
use sqlx::AnyPool;
use std::path::{Path, PathBuf};

/// The SQLite replay file's table; created when the file is opened.
const SQLITE_SCHEMA: &str = "CREATE TABLE IF NOT EXISTS dpop_proofs (\
     proof_hash TEXT PRIMARY KEY, expires_at INTEGER NOT NULL); \
     CREATE INDEX IF NOT EXISTS dpop_proofs_expiry ON dpop_proofs(expires_at)";

/// Where SQLite's replay cache lives for the database at `path`.
pub fn sqlite_replay_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push("-dpop");
    PathBuf::from(name)
}

/// Opens (creating) SQLite's replay file.
pub async fn open_sqlite_replay(path: &Path) -> Result<AnyPool> {
    let pool = super::sqlite::connect(&sqlite_replay_path(path)).await?;
    sqlx::raw_sql(SQLITE_SCHEMA).execute(&pool).await?;
    Ok(pool)
}

impl Store {
    fn replay_pool(&self) -> &AnyPool {
        self.dpop_replay.as_ref().unwrap_or(&self.pool)
    }

    /// Records a proof; `false` when it was recorded before (a replay). One
    /// statement, so two instances racing with the same proof cannot both win.
    pub async fn record_dpop_proof(&self, proof_hash: &str, expires_at: i64) -> Result<bool> {
        let sql = "INSERT INTO dpop_proofs (proof_hash, expires_at) VALUES ($1, $2) \
                   ON CONFLICT (proof_hash) DO NOTHING";
        let query = sqlx::query(sql).bind(proof_hash).bind(expires_at);
        Ok(query.execute(self.replay_pool()).await?.rows_affected() == 1)
    }

    /// Forgets proofs whose `iat` no clock in the window accepts any more.
    pub async fn prune_dpop_proofs(&self, now: i64) -> Result<u64> {
        let query = sqlx::query("DELETE FROM dpop_proofs WHERE expires_at <= $1").bind(now);
        Ok(query.execute(self.replay_pool()).await?.rows_affected())
    }
}

#[cfg(test)]
mod tests {
    use crate::testing::Fixture;

    #[tokio::test]
    async fn a_proof_is_recorded_once_and_pruned_after_expiry() {
        let fx = Fixture::new().await;
        let store = &fx.state.store;
        assert!(store.record_dpop_proof("h1", 100).await.unwrap());
        assert!(!store.record_dpop_proof("h1", 100).await.unwrap());
        assert!(store.record_dpop_proof("h2", 200).await.unwrap());
        assert_eq!(store.prune_dpop_proofs(100).await.unwrap(), 1);
        assert!(store.record_dpop_proof("h1", 300).await.unwrap());
        assert!(!store.record_dpop_proof("h2", 200).await.unwrap());
    }

    #[tokio::test]
    async fn sqlite_proofs_do_not_count_as_commits_to_the_database() {
        let fx = Fixture::new().await;
        let store = &fx.state.store;
        let cache = store.auth_cache.as_ref().expect("SQLite has the cache");
        let before = cache.version().await.expect("marker");
        assert!(store.record_dpop_proof("h", 100).await.unwrap());
        assert_eq!(cache.version().await, Some(before));
    }
}
