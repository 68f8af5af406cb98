//! Fixed-window attempt limits, counted in the database so every instance sees
//! the same numbers: OTP request throttling (per address, per IP) and the
//! user-code guessing cap. Keys name what is counted, e.g. `otp-email:a@example.com`.

use crate::error::{Error, Result};
use crate::store::Store;

/// A limit: at most `max` counted attempts per `window_secs`.
#[derive(Clone, Copy, Debug)]
pub struct Limit {
    pub max: i64,
    pub window_secs: i64,
}

/// Counts one attempt under `key`. `Err(TooManyRequests)` when this attempt is
/// over the limit (it is still counted, so hammering does not reset anything).
pub async fn hit(store: &Store, key: &str, limit: Limit, message: &str, now: i64) -> Result<()> {
    let (count, window_start) = store
        .count_attempt(key, now, now - limit.window_secs)
        .await?;
    if count > limit.max {
        return Err(too_many(message, window_start + limit.window_secs - now));
    }
    Ok(())
}

/// Whether `key` is already at its limit, without counting.
pub async fn check(store: &Store, key: &str, limit: Limit, message: &str, now: i64) -> Result<()> {
    match store.attempts(key).await? {
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
