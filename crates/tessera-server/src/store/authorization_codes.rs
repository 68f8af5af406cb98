//! Authorization codes (RFC 6749 §4.1.2): single use, stored as hashes, each
//! naming the token family its tokens will belong to.

use super::{Store, is_foreign_key_violation, retrying_lost_races};
use crate::error::{Error, Result};
use sqlx::FromRow;

/// A code as issued after consent.
#[derive(Clone, Debug, FromRow)]
pub struct CodeRow {
    pub client_id: String,
    pub account_id: String,
    pub redirect_uri: String,
    pub scope: String,
    /// Empty when the (confidential) client sent none.
    pub code_challenge: String,
    pub family_id: String,
    pub expires_at: i64,
}

/// What consuming a code found.
#[derive(Debug)]
pub enum Consumed {
    /// The code, now used; its family exists from now on.
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

    /// Marks the code used and opens its token family, in one transaction: of two
    /// concurrent redemptions one is [`Consumed::Replayed`], and by the time it
    /// sees the code used, the family exists for it to revoke, so a replay racing
    /// the first redemption still ends every token that redemption issues.
    /// `dpop_jkt`: the DPoP key the family's refresh tokens are bound to (public clients).
    pub async fn consume_authorization_code(
        &self,
        code_hash: &str,
        dpop_jkt: Option<&str>,
        now: i64,
    ) -> Result<Consumed> {
        retrying_lost_races(|| async move {
            let mut tx = self.pool.begin().await?;
            let fresh: Option<CodeRow> = sqlx::query_as(
                "UPDATE authorization_codes SET consumed_at = $1 \
                 WHERE code_hash = $2 AND consumed_at IS NULL RETURNING client_id, account_id, \
                 redirect_uri, scope, code_challenge, family_id, expires_at",
            )
            .bind(now)
            .bind(code_hash)
            .fetch_optional(&mut *tx)
            .await?;
            if let Some(row) = fresh {
                let opened = sqlx::query(
                    "INSERT INTO token_families \
                     (id, client_id, account_id, scope, created_at, revoked_at, dpop_jkt) \
                     VALUES ($1, $2, $3, $4, $5, NULL, $6)",
                )
                .bind(&row.family_id)
                .bind(&row.client_id)
                .bind(&row.account_id)
                .bind(&row.scope)
                .bind(now)
                .bind(dpop_jkt)
                .execute(&mut *tx)
                .await
                .map_err(Error::from);
                match opened {
                    Ok(_) => {}
                    // The app was deleted after the code was read: no code now.
                    Err(e) if is_foreign_key_violation(&e) => return Ok(Consumed::Unknown),
                    Err(e) => return Err(e),
                }
                tx.commit().await?;
                self.settle_auth_change().await;
                return Ok(Consumed::Fresh(row));
            }
            tx.rollback().await?;
            let sql = "SELECT family_id FROM authorization_codes WHERE code_hash = $1";
            Ok(match self.optional(sql, (code_hash,)).await? {
                Some((family_id,)) => Consumed::Replayed { family_id },
                None => Consumed::Unknown,
            })
        })
        .await
    }
}
