//! Email one-time codes: one live code per address, stored as a keyed hash.

use super::Store;
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
        let sql = "INSERT INTO otp_codes \
                   (email, code_hash, attempts, created_at, expires_at, consumed_at) \
                   VALUES ($1, $2, 0, $3, $4, NULL) \
                   ON CONFLICT (email) DO UPDATE SET code_hash = $2, attempts = 0, \
                   created_at = $3, expires_at = $4, consumed_at = NULL";
        self.execute(sql, (email, code_hash, now, expires_at))
            .await?;
        Ok(())
    }

    /// Counts a try against the live code of `email` and returns its hash and
    /// the tries counted so far, this one included; `None` when there is no
    /// unused, unexpired code with tries left. The try is counted before any
    /// comparison, atomically, so no more than `max_tries` ever compare.
    pub async fn try_otp_code(
        &self,
        email: &str,
        now: i64,
        max_tries: i64,
    ) -> Result<Option<(String, i64)>> {
        let sql = "UPDATE otp_codes SET attempts = attempts + 1 WHERE email = $1 \
                   AND consumed_at IS NULL AND expires_at > $2 AND attempts < $3 \
                   RETURNING code_hash, attempts";
        self.optional(sql, (email, now, max_tries)).await
    }

    /// The code stored for `email` and not yet pruned, and when it was used:
    /// what is left when [`Store::try_otp_code`] found none to try (used,
    /// expired or out of tries).
    pub async fn stored_otp_code(&self, email: &str) -> Result<Option<(String, Option<i64>)>> {
        let sql = "SELECT code_hash, consumed_at FROM otp_codes WHERE email = $1";
        self.optional(sql, (email,)).await
    }

    /// Uses the code up; `false` when another request did first.
    pub async fn consume_otp_code(&self, email: &str, code_hash: &str, now: i64) -> Result<bool> {
        let sql = "UPDATE otp_codes SET consumed_at = $1 \
                   WHERE email = $2 AND code_hash = $3 AND consumed_at IS NULL";
        self.changed_one(sql, (now, email, code_hash)).await
    }
}
