//! Token-URL login sessions (`admin session create`, the console): single use.

use super::Store;
use crate::error::Result;
use sqlx::FromRow;

/// A token-URL login session. The session id itself is a secret handed to the
/// user; only its hash is stored.
#[derive(Clone, Debug, PartialEq, Eq, FromRow)]
pub struct SessionRow {
    pub id_hash: String,
    pub account_id: String,
    /// Assurance level the exchanged token carries; `"0"` for admin-created sessions.
    pub acr: String,
    pub created_at: i64,
    pub expires_at: i64,
    pub consumed_at: Option<i64>,
}

impl Store {
    pub async fn insert_session(&self, session: &SessionRow) -> Result<()> {
        let sql = "INSERT INTO sessions \
                   (id_hash, account_id, acr, created_at, expires_at, consumed_at) \
                   VALUES ($1, $2, $3, $4, $5, $6)";
        let s = session;
        let values = (
            &s.id_hash,
            &s.account_id,
            &s.acr,
            s.created_at,
            s.expires_at,
            s.consumed_at,
        );
        self.execute(sql, values).await?;
        Ok(())
    }

    /// Consumes an unexpired, unused session atomically (single use even with
    /// several instances racing). `None` when there is nothing to consume.
    pub async fn take_session(&self, id_hash: &str, now: i64) -> Result<Option<SessionRow>> {
        let sql = "UPDATE sessions SET consumed_at = $1 \
                   WHERE id_hash = $2 AND consumed_at IS NULL AND expires_at > $1 \
                   RETURNING id_hash, account_id, acr, created_at, expires_at, consumed_at";
        self.optional(sql, (now, id_hash)).await
    }
}
