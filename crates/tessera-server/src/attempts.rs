//! Fixed-window attempt counters in the database, shared by every instance: OTP
//! request throttling (per address, per IP) and the user-code guessing cap.
//! Keys name what is counted, e.g. `otp-email:a@example.com`.

use crate::error::{Error, Result};
use crate::state::AppState;

/// A limit: at most `max` counted attempts per `window_secs`.
#[derive(Clone, Copy, Debug)]
pub struct Limit {
    pub max: i64,
    pub window_secs: i64,
}

/// Counts one attempt under `key`. `Err(TooManyRequests)` when this attempt is
/// over the limit (it is still counted, so hammering does not reset anything).
pub async fn hit(state: &AppState, key: &str, limit: Limit, message: &str) -> Result<()> {
    let now = state.now();
    let (count, window_start): (i64, i64) = sqlx::query_as(
        "INSERT INTO attempt_counters (key, window_start, count) VALUES ($1, $2, 1) \
         ON CONFLICT (key) DO UPDATE SET \
           count = CASE WHEN attempt_counters.window_start <= $3 THEN 1 \
                        ELSE attempt_counters.count + 1 END, \
           window_start = CASE WHEN attempt_counters.window_start <= $3 THEN $2 \
                        ELSE attempt_counters.window_start END \
         RETURNING count, window_start",
    )
    .bind(key)
    .bind(now)
    .bind(now - limit.window_secs)
    .fetch_one(state.store.pool())
    .await?;
    if count > limit.max {
        return Err(too_many(message, window_start + limit.window_secs - now));
    }
    Ok(())
}

/// Whether `key` is already at its limit, without counting.
pub async fn check(state: &AppState, key: &str, limit: Limit, message: &str) -> Result<()> {
    let now = state.now();
    let row: Option<(i64, i64)> =
        sqlx::query_as("SELECT count, window_start FROM attempt_counters WHERE key = $1")
            .bind(key)
            .fetch_optional(state.store.pool())
            .await?;
    match row {
        Some((count, window_start))
            if window_start > now - limit.window_secs && count >= limit.max =>
        {
            Err(too_many(message, window_start + limit.window_secs - now))
        }
        _ => Ok(()),
    }
}

fn too_many(message: &str, retry_after: i64) -> Error {
    Error::TooManyRequests {
        message: message.to_owned(),
        retry_after_secs: u64::try_from(retry_after.max(1)).unwrap_or(1),
    }
}
