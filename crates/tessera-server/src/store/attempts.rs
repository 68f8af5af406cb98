//! Fixed-window attempt counters shared by every instance (one-time code
//! requests, user-code guesses, password failures). Keys name what is counted.

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

    /// Takes back one attempt counted under `key` in the window that started
    /// at `window_start` (none if a new window has begun since).
    pub async fn refund_attempt(&self, key: &str, window_start: i64) -> Result<()> {
        let sql = "UPDATE attempt_counters SET count = count - 1 \
                   WHERE key = $1 AND window_start = $2 AND count > 0";
        self.execute(sql, (key, window_start)).await?;
        Ok(())
    }
}
