//! Token signing keys; the private half sealed under the master key.

use super::Store;
use crate::error::Result;
use sqlx::FromRow;

#[derive(Clone, Debug, PartialEq, Eq, FromRow)]
pub struct SigningKeyRow {
    pub kid: String,
    pub algorithm: String,
    pub public_key: String,
    pub private_key_sealed: String,
    pub created_at: i64,
    pub rotated_at: Option<i64>,
}

impl Store {
    /// Inserts `key` as the one current key: every other current key is marked
    /// rotated at `now`, in the same transaction.
    pub async fn insert_signing_key_rotating(&self, key: &SigningKeyRow, now: i64) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("UPDATE signing_keys SET rotated_at = $1 WHERE rotated_at IS NULL")
            .bind(now)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO signing_keys (kid, algorithm, public_key, private_key_sealed, created_at, rotated_at) \
             VALUES ($1, $2, $3, $4, $5, NULL)",
        )
        .bind(&key.kid)
        .bind(&key.algorithm)
        .bind(&key.public_key)
        .bind(&key.private_key_sealed)
        .bind(key.created_at)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn signing_keys(&self) -> Result<Vec<SigningKeyRow>> {
        let sql = "SELECT kid, algorithm, public_key, private_key_sealed, created_at, rotated_at \
                   FROM signing_keys ORDER BY created_at, kid";
        self.all(sql, ()).await
    }
}
