//! Email one-time codes: one live code per address and requester, stored as a
//! keyed hash.

use super::Store;
use crate::error::Result;

impl Store {
    /// Stores a new code for `email` asked for by `requester`, replacing (and
    /// so voiding) the one that requester asked for before.
    pub async fn put_otp_code(
        &self,
        email: &str,
        requester: &str,
        code_hash: &str,
        now: i64,
        expires_at: i64,
    ) -> Result<()> {
        let sql = "INSERT INTO otp_codes \
                   (email, requester, code_hash, attempts, created_at, expires_at, consumed_at) \
                   VALUES ($1, $2, $3, 0, $4, $5, NULL) \
                   ON CONFLICT (email, requester) DO UPDATE SET code_hash = $3, attempts = 0, \
                   created_at = $4, expires_at = $5, consumed_at = NULL";
        self.execute(sql, (email, requester, code_hash, now, expires_at))
            .await?;
        Ok(())
    }

    /// Counts a try against the requester's live code for `email` and returns
    /// its hash and the tries counted so far, this one included; `None` when
    /// there is no unused, unexpired code with tries left. The try is counted
    /// before any comparison, atomically, so no more than `max_tries` ever
    /// compare.
    pub async fn try_otp_code(
        &self,
        email: &str,
        requester: &str,
        now: i64,
        max_tries: i64,
    ) -> Result<Option<(String, i64)>> {
        let sql = "UPDATE otp_codes SET attempts = attempts + 1 \
                   WHERE email = $1 AND requester = $2 \
                   AND consumed_at IS NULL AND expires_at > $3 AND attempts < $4 \
                   RETURNING code_hash, attempts";
        self.optional(sql, (email, requester, now, max_tries)).await
    }

    /// The requester's code for `email`, not yet pruned, and when it was used:
    /// what is left when [`Store::try_otp_code`] found none to try (used,
    /// expired or out of tries).
    pub async fn stored_otp_code(
        &self,
        email: &str,
        requester: &str,
    ) -> Result<Option<(String, Option<i64>)>> {
        let sql = "SELECT code_hash, consumed_at FROM otp_codes \
                   WHERE email = $1 AND requester = $2";
        self.optional(sql, (email, requester)).await
    }

    /// Uses the code up; `false` when another request did first.
    pub async fn consume_otp_code(
        &self,
        email: &str,
        requester: &str,
        code_hash: &str,
        now: i64,
    ) -> Result<bool> {
        let sql = "UPDATE otp_codes SET consumed_at = $1 \
                   WHERE email = $2 AND requester = $3 AND code_hash = $4 \
                   AND consumed_at IS NULL";
        self.changed_one(sql, (now, email, requester, code_hash))
            .await
    }
}
