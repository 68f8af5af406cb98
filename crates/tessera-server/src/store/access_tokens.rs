//! Access tokens are not stored; their revocations are, until the token expires.

use super::Store;
use crate::error::Result;
use sqlx::FromRow;
use tessera_proto::Claims;

/// What the per-request access-token check needs.
#[derive(Clone, Debug, FromRow)]
pub struct AccessTokenAuthRow {
    pub email: String,
    /// Set when the token's `jti` is in `revoked_access_tokens`.
    pub revoked_at: Option<i64>,
    /// 0 when the token names an app (`client_id`) that has been deleted: a
    /// deleted app's tokens stop working at once, including client-credentials
    /// tokens, which belong to no refresh-token family that could be revoked.
    pub app_exists: i64,
    /// 1 when the token's family (`fam`) is revoked or gone, or the API key it
    /// acts through (`key_id`) is revoked or gone.
    pub lineage_ended: i64,
}

impl Store {
    /// The account's email, whether the token was revoked, whether its app still
    /// exists and whether its family or API key ended, in one query; `None` when
    /// the account does not exist (any more). Cached by `jti` (which fixes every
    /// other claim, as they are signed together) and account.
    pub async fn access_token_for_auth(
        &self,
        claims: &Claims,
    ) -> Result<Option<AccessTokenAuthRow>> {
        let (jti, account_id) = (&claims.jti, &claims.sub);
        self.cached(|| format!("{jti}\n{account_id}"), async {
            let sql = "SELECT a.email, r.revoked_at, \
                       CAST(CASE WHEN CAST($3 AS TEXT) IS NULL \
                            OR EXISTS (SELECT 1 FROM apps p WHERE p.client_id = CAST($3 AS TEXT)) \
                       THEN 1 ELSE 0 END AS BIGINT) AS app_exists, \
                       CAST(CASE WHEN CAST($4 AS TEXT) IS NOT NULL AND NOT EXISTS \
                            (SELECT 1 FROM token_families f \
                             WHERE f.id = CAST($4 AS TEXT) AND f.revoked_at IS NULL) THEN 1 \
                       WHEN CAST($5 AS TEXT) IS NOT NULL AND NOT EXISTS \
                            (SELECT 1 FROM api_keys k \
                             WHERE k.id = CAST($5 AS TEXT) AND k.revoked_at IS NULL) THEN 1 \
                       ELSE 0 END AS BIGINT) AS lineage_ended \
                       FROM accounts a \
                       LEFT JOIN revoked_access_tokens r ON r.jti = $1 WHERE a.id = $2";
            let values = (
                jti,
                account_id,
                claims.client_id.as_deref(),
                claims.family_id.as_deref(),
                claims.api_key_id.as_deref(),
            );
            self.optional(sql, values).await
        })
        .await
    }

    /// Revokes an access token until its expiry (RFC 7009). Idempotent.
    pub async fn revoke_access_token(&self, jti: &str, expires_at: i64, now: i64) -> Result<()> {
        let sql = "INSERT INTO revoked_access_tokens (jti, expires_at, revoked_at) \
                   VALUES ($1, $2, $3) ON CONFLICT (jti) DO NOTHING";
        self.execute(sql, (jti, expires_at, now)).await?;
        Ok(())
    }

    /// Drops revocations of tokens that have expired anyway.
    pub async fn prune_revoked_access_tokens(&self, now: i64) -> Result<u64> {
        let sql = "DELETE FROM revoked_access_tokens WHERE expires_at <= $1";
        self.execute(sql, (now,)).await
    }
}
