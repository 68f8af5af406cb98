//! Fixed-window attempt counters shared by every instance (one-time code
//! requests, user-code guesses). Keys name what is counted.

use super::Store;
use crate::error::Result;

impl Store {
    /// Counts one attempt under `key` in the window starting after `window_floor`
    /// (a window that started at or before it begins anew at `now`). Returns the
    /// count and the window's start.
    pub async fn count_attempt(
        &self,
        key: &str,
        now: i64,
        window_floor: i64,
    ) -> Result<(i64, i64)> {
        let sql = "INSERT INTO attempt_counters (key, window_start, count) VALUES ($1, $2, 1) \
                   ON CONFLICT (key) DO UPDATE SET \
                     count = CASE WHEN attempt_counters.window_start <= $3 THEN 1 \
                                  ELSE attempt_counters.count + 1 END, \
                     window_start = CASE WHEN attempt_counters.window_start <= $3 THEN $2 \
                                  ELSE attempt_counters.window_start END \
                   RETURNING count, window_start";
        self.one(sql, (key, now, window_floor)).await
    }

    /// The count and window start under `key`, without counting.
    pub async fn attempts(&self, key: &str) -> Result<Option<(i64, i64)>> {
        let sql = "SELECT count, window_start FROM attempt_counters WHERE key = $1";
        self.optional(sql, (key,)).await
    }
}
