//! Fixed-window attempt limits, counted in the database so every instance sees
//! the same numbers: one-time code requests (per address and per client
//! address), user-code guesses, password sign-in failures (per account and per
//! client address). Keys name what is counted, e.g. `otp-email:a@example.com`.
//!
//! Each attempt is counted and compared in one statement, before the attempt
//! is evaluated, so N parallel attempts admit exactly the limit (no read-then-
//! count race). Where only failures should count, the caller gives a
//! successful attempt back ([`Attempt::refund`]).

use crate::error::{Error, Result};
use crate::store::Store;

/// A limit: at most `max` counted attempts per `window_secs`.
#[derive(Clone, Copy, Debug)]
pub struct Limit {
    pub max: i64,
    pub window_secs: i64,
}

impl Limit {
    /// At most `max` per quarter of an hour: every guessing limit of the
    /// server (codes, passwords, device user codes).
    pub const fn per_quarter_hour(max: i64) -> Self {
        Limit {
            max,
            window_secs: 15 * 60,
        }
    }
}

/// An admitted attempt, as counted.
#[derive(Debug)]
pub struct Attempt {
    key: String,
    window_start: i64,
}

impl Attempt {
    /// Takes the attempt back: it succeeded and should not count. Nothing
    /// happens if its window has since ended.
    pub async fn refund(self, store: &Store) -> Result<()> {
        store.refund_attempt(&self.key, self.window_start).await
    }
}

/// Counts one attempt under `key`. `Err(TooManyRequests)` when this attempt is
/// over the limit (it is still counted, so hammering does not reset anything).
pub async fn hit(
    store: &Store,
    key: &str,
    limit: Limit,
    message: &str,
    now: i64,
) -> Result<Attempt> {
    let (count, window_start) = store
        .count_attempt(key, now, now - limit.window_secs)
        .await?;
    if count > limit.max {
        let retry_after = window_start + limit.window_secs - now;
        return Err(Error::TooManyRequests {
            message: message.to_owned(),
            retry_after_secs: u64::try_from(retry_after.max(1)).unwrap_or(1),
        });
    }
    Ok(Attempt {
        key: key.to_owned(),
        window_start,
    })
}

/// [`hit`], with being over the limit as `None` rather than an error.
pub async fn admitted(store: &Store, key: &str, limit: Limit, now: i64) -> Result<Option<Attempt>> {
    match hit(store, key, limit, "", now).await {
        Ok(attempt) => Ok(Some(attempt)),
        Err(Error::TooManyRequests { .. }) => Ok(None),
        Err(e) => Err(e),
    }
}
