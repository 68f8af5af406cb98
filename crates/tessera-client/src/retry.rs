//! How long to wait before retrying a request the server rate-limited (429).
//!
//! The server's word first: `Retry-After` (seconds or an HTTP date), else
//! `X-RateLimit-Reset` (UTC epoch seconds, Lofty overview), else exponential
//! backoff. Jitter is added on top so that clients limited at the same moment
//! do not all come back at the same moment.

use crate::response::ApiResponse;
use std::time::Duration;
use tessera_proto::ratelimit;

/// Bounds on waiting for a rate limit.
#[derive(Clone, Copy, Debug)]
pub struct RetryPolicy {
    /// Requests in total, the first included.
    pub max_attempts: u32,
    /// No single wait is longer than this.
    pub max_delay: Duration,
    /// The first backoff step when the server gives no hint.
    pub base_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 4,
            max_delay: Duration::from_secs(60),
            base_delay: Duration::from_secs(1),
        }
    }
}

/// Where a wait came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WaitReason {
    RetryAfter,
    RateLimitReset,
    Backoff,
}

/// One wait before a retry.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RateLimitWait {
    /// The attempt that was rate limited (1 = the first request).
    pub attempt: u32,
    pub max_attempts: u32,
    pub delay: Duration,
    pub reason: WaitReason,
}

impl RetryPolicy {
    /// The wait after `attempt` was answered by `response` (a 429) at `now`
    /// (Unix seconds). `jitter` is uniform in `[0, 1)`: it adds up to a
    /// quarter of the wait, plus up to 250 ms so that a zero wait spreads too.
    pub fn wait(
        &self,
        response: &ApiResponse,
        now: i64,
        attempt: u32,
        jitter: f64,
    ) -> RateLimitWait {
        let retry_after = response
            .header("retry-after")
            .and_then(|v| parse_retry_after(v, now));
        let reset = response
            .header(ratelimit::RESET)
            .and_then(|v| v.trim().parse::<i64>().ok())
            .map(|reset| {
                Duration::from_secs(u64::try_from(reset.saturating_sub(now)).unwrap_or(0))
            });
        let (base, reason) = match (retry_after, reset) {
            (Some(d), _) => (d, WaitReason::RetryAfter),
            (None, Some(d)) => (d, WaitReason::RateLimitReset),
            (None, None) => (
                self.base_delay
                    .saturating_mul(1 << attempt.saturating_sub(1).min(16)),
                WaitReason::Backoff,
            ),
        };
        // The server chooses `base` (`Retry-After: 18446744073709551615`):
        // capped before the jitter is added to it, which would overflow.
        let base = base.min(self.max_delay);
        let jitter = jitter.clamp(0.0, 1.0);
        let extra = base.mul_f64(0.25 * jitter) + Duration::from_millis(250).mul_f64(jitter);
        RateLimitWait {
            attempt,
            max_attempts: self.max_attempts,
            delay: base.saturating_add(extra).min(self.max_delay),
            reason,
        }
    }
}

/// RFC 9110 §10.2.3: delay-seconds or an HTTP-date.
fn parse_retry_after(value: &str, now: i64) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let format = time::macros::format_description!(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
    );
    let at = time::PrimitiveDateTime::parse(value, format)
        .ok()?
        .assume_utc()
        .unix_timestamp();
    Some(Duration::from_secs(
        u64::try_from(at.saturating_sub(now)).unwrap_or(0),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limited(headers: &[(&str, &str)]) -> ApiResponse {
        ApiResponse {
            status: 429,
            headers: headers
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            body: Vec::new(),
        }
    }

    #[test]
    fn retry_after_beats_reset_beats_backoff() {
        let policy = RetryPolicy::default();
        let now = 1_700_000_000;
        let reset = (now + 7).to_string();
        let both = limited(&[("Retry-After", "3"), ("X-RateLimit-Reset", &reset)]);
        let w = policy.wait(&both, now, 1, 0.0);
        assert_eq!(
            (w.delay, w.reason),
            (Duration::from_secs(3), WaitReason::RetryAfter)
        );
        let w = policy.wait(&limited(&[("x-ratelimit-reset", &reset)]), now, 1, 0.0);
        assert_eq!(
            (w.delay, w.reason),
            (Duration::from_secs(7), WaitReason::RateLimitReset)
        );
        let backoff: Vec<_> = (1..=4)
            .map(|a| policy.wait(&limited(&[]), now, a, 0.0).delay.as_secs())
            .collect();
        assert_eq!(backoff, [1, 2, 4, 8]);
    }

    #[test]
    fn http_date_and_past_resets() {
        let now = 784_111_777 - 10; // Sun, 06 Nov 1994 08:49:37 GMT minus 10 s
        let w = RetryPolicy::default().wait(
            &limited(&[("retry-after", "Sun, 06 Nov 1994 08:49:37 GMT")]),
            now,
            1,
            0.0,
        );
        assert_eq!(w.delay, Duration::from_secs(10));
        let past = (now - 5).to_string();
        let w = RetryPolicy::default().wait(&limited(&[(ratelimit::RESET, &past)]), now, 1, 0.0);
        assert_eq!(w.delay, Duration::ZERO);
    }

    #[test]
    fn jitter_adds_at_most_a_quarter_and_the_cap_holds() {
        let policy = RetryPolicy::default();
        let w = policy.wait(&limited(&[("retry-after", "8")]), 0, 1, 0.999);
        assert!(w.delay > Duration::from_secs(8) && w.delay <= Duration::from_millis(10_250));
        let w = policy.wait(&limited(&[("retry-after", "3600")]), 0, 1, 0.5);
        assert_eq!(w.delay, policy.max_delay);
    }

    /// The largest waits a server can name: capped, not an overflow panic.
    #[test]
    fn the_largest_waits_are_capped_without_overflow() {
        let policy = RetryPolicy::default();
        let max = u64::MAX.to_string();
        let reset = i64::MAX.to_string();
        for headers in [
            [("retry-after", max.as_str())],
            [(ratelimit::RESET, reset.as_str())],
        ] {
            let w = policy.wait(&limited(&headers), i64::MIN, 1, 0.999);
            assert_eq!(w.delay, policy.max_delay);
        }
    }

    use proptest::strategy::Strategy as _;

    proptest::proptest! {
        /// Server headers are outside input: any value gives a bounded wait.
        #[test]
        fn any_header_values_give_a_bounded_wait(
            retry_after in proptest::prop_oneof!["\\PC{0,40}", proptest::num::i64::ANY.prop_map(|n| n.to_string()), proptest::num::u64::ANY.prop_map(|n| n.to_string())],
            reset in proptest::prop_oneof!["\\PC{0,20}", proptest::num::i64::ANY.prop_map(|n| n.to_string())],
            now in proptest::num::i64::ANY,
        ) {
            let policy = RetryPolicy::default();
            let w = policy.wait(&limited(&[("retry-after", &retry_after), (ratelimit::RESET, &reset)]), now, 3, 0.5);
            proptest::prop_assert!(w.delay <= policy.max_delay);
        }
    }
}
