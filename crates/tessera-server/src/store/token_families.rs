//! Token families: one grant (a redeemed authorization code, an approved device)
//! and every token issued from it. Its refresh tokens point at it; its access
//! tokens name it in their `fam` claim, and the per-request check reads its
//! `revoked_at` ([`Store::access_token_for_auth`]), so revoking the family revokes
//! all of them.

use super::{Store, is_foreign_key_violation};
use crate::error::Result;
use sqlx::FromRow;

/// A refresh token's row with its family's.
#[derive(Clone, Debug, FromRow)]
pub struct RefreshRow {
    pub family_id: String,
    pub expires_at: i64,
    pub used_at: Option<i64>,
    pub client_id: String,
    pub account_id: String,
    pub scope: String,
    pub revoked_at: Option<i64>,
    /// When the family was created: its absolute lifetime counts from here.
    pub family_created_at: i64,
    /// The key thumbprint the family's refresh tokens are bound to (DPoP).
    pub dpop_jkt: Option<String>,
}

impl Store {
    /// Stores a refresh token of a family; `false` when the family is gone
    /// (its app deleted since the grant read it), so that the grant answers
    /// in OAuth's words rather than with a database error. (A family revoked
    /// meanwhile takes the token: it is dead on arrival, as the access token
    /// issued with it, and a replay racing a redemption still sees one
    /// redemption succeed.)
    pub async fn insert_refresh_token(
        &self,
        token_hash: &str,
        family_id: &str,
        now: i64,
        expires_at: i64,
    ) -> Result<bool> {
        let sql = "INSERT INTO refresh_tokens \
                   (token_hash, family_id, created_at, expires_at, used_at) \
                   VALUES ($1, $2, $3, $4, NULL)";
        match self
            .execute(sql, (token_hash, family_id, now, expires_at))
            .await
        {
            Ok(inserted) => Ok(inserted == 1),
            Err(e) if is_foreign_key_violation(&e) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// The refresh token's row and its family, by the token's hash.
    pub async fn refresh_token(&self, token_hash: &str) -> Result<Option<RefreshRow>> {
        let sql = "SELECT r.family_id, r.expires_at, r.used_at, f.client_id, f.account_id, \
                   f.scope, f.revoked_at, f.created_at AS family_created_at, f.dpop_jkt \
                   FROM refresh_tokens r \
                   JOIN token_families f ON f.id = r.family_id WHERE r.token_hash = $1";
        self.optional(sql, (token_hash,)).await
    }

    /// Marks a refresh token used; `false` when it already was (compare-and-set,
    /// so of two concurrent uses only one wins).
    pub async fn use_refresh_token(&self, token_hash: &str, now: i64) -> Result<bool> {
        let sql =
            "UPDATE refresh_tokens SET used_at = $1 WHERE token_hash = $2 AND used_at IS NULL";
        self.changed_one(sql, (now, token_hash)).await
    }

    /// How many refresh tokens the family has been given (spent or not).
    pub async fn refresh_tokens_in_family(&self, family_id: &str) -> Result<i64> {
        let sql = "SELECT COUNT(*) FROM refresh_tokens WHERE family_id = $1";
        let (count,): (i64,) = self.one(sql, (family_id,)).await?;
        Ok(count)
    }

    /// Revokes a family: its refresh tokens stop working, and so do its access
    /// tokens, whose per-request check reads this row.
    pub async fn revoke_token_family(&self, family_id: &str, now: i64) -> Result<()> {
        let sql = "UPDATE token_families SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL";
        self.execute(sql, (now, family_id)).await?;
        Ok(())
    }

    /// Ids of the unrevoked families an app holds: of one account, or with `None`
    /// of every account.
    pub async fn live_token_families(
        &self,
        client_id: &str,
        account_id: Option<&str>,
    ) -> Result<Vec<String>> {
        let sql = "SELECT id FROM token_families WHERE client_id = $1 \
                   AND (CAST($2 AS TEXT) IS NULL OR account_id = CAST($2 AS TEXT)) \
                   AND revoked_at IS NULL";
        let rows: Vec<(String,)> = self.all(sql, (client_id, account_id)).await?;
        Ok(rows.into_iter().map(|(id,)| id).collect())
    }
}
