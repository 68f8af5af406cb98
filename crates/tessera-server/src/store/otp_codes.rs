//! Email one-time codes: one live code per address, stored as a keyed hash.

use super::{Store, one_row};
use crate::error::Result;

impl Store {
    /// Stores a new code for `email`, replacing (and so voiding) any older one.
    pub async fn put_otp_code(
        &self,
        email: &str,
        code_hash: &str,
        now: i64,
        expires_at: i64,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO otp_codes (email, code_hash, attempts, created_at, expires_at, consumed_at) \
             VALUES ($1, $2, 0, $3, $4, NULL) \
             ON CONFLICT (email) DO UPDATE SET code_hash = $2, attempts = 0, created_at = $3, \
             expires_at = $4, consumed_at = NULL",
        )
        .bind(email)
        .bind(code_hash)
        .bind(now)
        .bind(expires_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Counts a try against the live code of `email` and returns its hash; `None`
    /// when there is no unused, unexpired code with tries left. The try is counted
    /// before any comparison, atomically, so no more than `max_tries` ever compare.
    pub async fn try_otp_code(
        &self,
        email: &str,
        now: i64,
        max_tries: i64,
    ) -> Result<Option<String>> {
        let row: Option<(String,)> = sqlx::query_as(
            "UPDATE otp_codes SET attempts = attempts + 1 \
             WHERE email = $1 AND consumed_at IS NULL AND expires_at > $2 AND attempts < $3 \
             RETURNING code_hash",
        )
        .bind(email)
        .bind(now)
        .bind(max_tries)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|(hash,)| hash))
    }

    /// Uses the code up; `false` when another request did first.
    pub async fn consume_otp_code(&self, email: &str, code_hash: &str, now: i64) -> Result<bool> {
        Ok(one_row(
            sqlx::query(
                "UPDATE otp_codes SET consumed_at = $1 \
                 WHERE email = $2 AND code_hash = $3 AND consumed_at IS NULL",
            )
            .bind(now)
            .bind(email)
            .bind(code_hash)
            .execute(&self.pool)
            .await?,
        ))
    }
}
