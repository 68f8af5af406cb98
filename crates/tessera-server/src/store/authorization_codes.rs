//! Authorization codes (RFC 6749 §4.1.2): single use, stored as hashes, each
//! naming the token family its tokens will belong to.

use super::Store;
use crate::error::Result;
use sqlx::FromRow;

/// A code as issued after consent.
#[derive(Clone, Debug, FromRow)]
pub struct CodeRow {
    pub client_id: String,
    pub account_id: String,
    pub redirect_uri: String,
    pub scope: String,
    pub code_challenge: String,
    pub family_id: String,
    pub expires_at: i64,
}

/// What consuming a code found.
#[derive(Debug)]
pub enum Consumed {
    /// The code, now used.
    Fresh(CodeRow),
    /// The code had been used before: its family, whose tokens are suspect.
    Replayed {
        family_id: String,
    },
    Unknown,
}

impl Store {
    pub async fn insert_authorization_code(
        &self,
        code_hash: &str,
        code: &CodeRow,
        now: i64,
    ) -> Result<()> {
        let sql = "INSERT INTO authorization_codes (code_hash, client_id, account_id, \
                   redirect_uri, scope, code_challenge, family_id, created_at, expires_at, \
                   consumed_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, NULL)";
        let c = code;
        let values = (
            code_hash,
            &c.client_id,
            &c.account_id,
            &c.redirect_uri,
            &c.scope,
            &c.code_challenge,
            &c.family_id,
            now,
            c.expires_at,
        );
        self.execute(sql, values).await?;
        Ok(())
    }

    /// Marks the code used, atomically: of two concurrent redemptions one is
    /// [`Consumed::Replayed`].
    pub async fn consume_authorization_code(&self, code_hash: &str, now: i64) -> Result<Consumed> {
        let sql = "UPDATE authorization_codes SET consumed_at = $1 \
                   WHERE code_hash = $2 AND consumed_at IS NULL RETURNING client_id, account_id, \
                   redirect_uri, scope, code_challenge, family_id, expires_at";
        if let Some(row) = self.optional(sql, (now, code_hash)).await? {
            return Ok(Consumed::Fresh(row));
        }
        let sql = "SELECT family_id FROM authorization_codes WHERE code_hash = $1";
        Ok(match self.optional(sql, (code_hash,)).await? {
            Some((family_id,)) => Consumed::Replayed { family_id },
            None => Consumed::Unknown,
        })
    }
}
