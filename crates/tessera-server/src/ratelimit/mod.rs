//! Rate limits (Lofty auth overview): per app, not per account — development
//! 100 requests/min, production 500/min, an app may override its mode's limit —
//! lower limits for some endpoints, and per-client-IP limits on the unauthenticated
//! token, device and one-time-code endpoints.
//!
//! # The window
//! Every limit is "N requests per 60 seconds" over a *sliding* window of one-second
//! buckets: a request at second `s` is admitted when fewer than N requests were
//! admitted in seconds `s-59 ..= s`. Compared with a token bucket / GCRA, this keeps
//! the headers exact in the sense clients rely on:
//! - `X-RateLimit-Remaining` counts down by exactly one per admitted request
//!   (capacity only comes back when a whole second leaves the window, never
//!   fractionally in the middle of a burst);
//! - `X-RateLimit-Reset` is the epoch second at which the oldest counted request
//!   leaves the window; when Remaining is 0 (and on a 429) it is exactly the second
//!   at which a request will be admitted again;
//! - there is no burst of 2N at a fixed-window boundary.
//!
//! Refused requests are not counted. A request that turns out not to count
//! (the token endpoint's per-address limit counts failed attempts only) is
//! counted when it arrives and given back ([`Limiter::refund`]) when it is
//! answered: counting first and comparing in the same step is what keeps
//! parallel requests from exceeding a limit, and an attempt in progress holds
//! its slot until it is known to be harmless. The same arithmetic runs in process
//! ([`memory`]) and, for several instances, in one atomic step where the counters
//! are shared: a Lua script in Redis ([`redis`]) or one upsert in PostgreSQL
//! ([`postgres`]); all three answer identically, and give back identically.
//!
//! When the shared counters cannot be reached, [`Unreachable`] decides: serve
//! without limits (and say so in the log and `/metrics`) or answer 503.
//!
//! Time is the injected clock's Unix seconds, passed in as `now`.

pub mod memory;
pub mod postgres;
pub mod redis;

use crate::error::{Error, Result};
use crate::store::{AppMode, Store};
use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};

/// Seconds in a window: every limit is per minute.
pub const PERIOD_SECS: i64 = 60;

/// Lofty's defaults, requests per minute.
pub const DEFAULT_DEVELOPMENT_PER_MIN: u32 = 100;
pub const DEFAULT_PRODUCTION_PER_MIN: u32 = 500;
/// Unauthenticated endpoints, per client IP and endpoint.
pub const DEFAULT_PER_IP_PER_MIN: u32 = 300;

/// Endpoints that anyone may call: limited per client IP. Matched as path prefixes
/// on segment boundaries (`/v1/auth/otp` also covers `/v1/auth/otp/verify`).
/// `/device` is where a user types a device flow's user code: guessing ground.
pub const UNAUTHENTICATED_PATHS: [&str; 7] = [
    "/oauth/token",
    "/oauth/introspect",
    "/oauth/revoke",
    "/oauth/session-token",
    "/oauth/device_authorization",
    "/device",
    "/v1/auth/otp",
];

/// Endpoints where only guesses count against the address (a wrong client
/// secret, code, refresh token, device code or session id: the answer says so,
/// `http::middleware::Guessed`), all in the first one's window: a client secret
/// tried at introspection or revocation is a guess as much as one tried at the
/// token endpoint, so moving between them buys an attacker nothing.
pub const GUESS_PATHS: [&str; 4] = [
    "/oauth/token",
    "/oauth/introspect",
    "/oauth/revoke",
    "/oauth/session-token",
];

/// Whether only guesses count at `path` ([`GUESS_PATHS`]).
pub fn guesses_only(path: &str) -> bool {
    GUESS_PATHS.iter().any(|p| path_under(path, p))
}

/// Whether a request is a revocation of an API key, which has a spare window
/// ([`REVOCATIONS_PER_MIN`]) once its subject's is full: a thief who fills an
/// account's window with a stolen key must not keep the owner from revoking
/// it, nor get an unlimited path that writes to the database.
pub fn is_revocation(method: &str, path: &str) -> bool {
    method == "DELETE" && path_under(path, "/v1/api-keys")
}

/// Revocations admitted per minute beyond a full window, per subject.
pub const REVOCATIONS_PER_MIN: u32 = 30;

/// The spare window of revocations beside `general`, a subject's window.
pub fn revocations_bucket(general: &Bucket) -> Bucket {
    Bucket {
        key: format!("{}|revocations", general.key),
        limit: REVOCATIONS_PER_MIN,
    }
}

/// Lower limits that apply unless the configuration says otherwise: a one-time code
/// sends mail, so requesting (and verifying) codes is limited harder.
pub const DEFAULT_ENDPOINT_LIMITS: [(&str, u32); 1] = [("/v1/auth/otp", 20)];

/// How long an instance trusts its copy of an app's limit: `admin app update`
/// reaches every instance within this many seconds.
pub const APP_LIMIT_CACHE_SECS: i64 = 5;

/// Where the counters live.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    /// In this process: right for a single instance (the SQLite default).
    Memory,
    /// In the PostgreSQL database: several instances together admit the limit once
    /// (the default with a `postgres://` database).
    Postgres,
    /// In Redis (or a Redis Cluster): several instances together admit the limit
    /// once, without a database round trip.
    Redis,
}

impl Backend {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Memory => "memory",
            Self::Postgres => "postgres",
            Self::Redis => "redis",
        }
    }
}

/// What a request gets while the shared counters cannot be reached.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Unreachable {
    /// Served without a limit (no `X-RateLimit-*` headers); a warning and
    /// `tesserad_rate_limit_unenforced_total` say limits are not enforced.
    #[default]
    Allow,
    /// 503 with `Retry-After: 1`.
    Deny,
}

/// A lower limit for requests whose path starts with `prefix`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EndpointLimit {
    pub prefix: String,
    pub per_min: u32,
}

/// The configured limits (settings `rate_limit_*`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Policy {
    pub development_per_min: u32,
    pub production_per_min: u32,
    pub per_ip_per_min: u32,
    /// Longest prefix first, so the most specific rule wins.
    pub endpoints: Vec<EndpointLimit>,
}

impl Default for Policy {
    fn default() -> Self {
        Self::new(
            DEFAULT_DEVELOPMENT_PER_MIN,
            DEFAULT_PRODUCTION_PER_MIN,
            DEFAULT_PER_IP_PER_MIN,
            DEFAULT_ENDPOINT_LIMITS
                .iter()
                .map(|(p, n)| EndpointLimit {
                    prefix: (*p).to_owned(),
                    per_min: *n,
                })
                .collect(),
        )
    }
}

/// Whether `path` is `prefix` or below it (segment boundary).
pub fn path_under(path: &str, prefix: &str) -> bool {
    let prefix = prefix.trim_end_matches('/');
    path.strip_prefix(prefix)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

impl Policy {
    pub fn new(
        development_per_min: u32,
        production_per_min: u32,
        per_ip_per_min: u32,
        mut endpoints: Vec<EndpointLimit>,
    ) -> Self {
        endpoints.sort_by_key(|e| std::cmp::Reverse(e.prefix.len()));
        Self {
            development_per_min,
            production_per_min,
            per_ip_per_min,
            endpoints,
        }
    }

    pub fn mode_default(&self, mode: AppMode) -> u32 {
        match mode {
            AppMode::Development => self.development_per_min,
            AppMode::Production => self.production_per_min,
        }
    }

    /// The limit of an app: its own override, else its mode's default.
    pub fn app_limit(&self, mode: AppMode, override_per_min: Option<i64>) -> u32 {
        override_per_min
            .and_then(|n| u32::try_from(n).ok())
            .unwrap_or_else(|| self.mode_default(mode))
    }

    fn endpoint(&self, path: &str) -> Option<&EndpointLimit> {
        self.endpoints.iter().find(|e| path_under(path, &e.prefix))
    }

    /// The per-IP bucket for an unauthenticated endpoint, or `None` when `path` is
    /// not one: (bucket name, limit). An endpoint's rule lowers the per-IP
    /// limit there, never raises it.
    pub fn ip_rule(&self, path: &str) -> Option<(&str, u32)> {
        let path = if guesses_only(path) {
            GUESS_PATHS[0]
        } else {
            path
        };
        let base = UNAUTHENTICATED_PATHS.iter().find(|p| path_under(path, p))?;
        Some(match self.endpoint(path) {
            Some(e) => (e.prefix.as_str(), e.per_min.min(self.per_ip_per_min)),
            None => (base, self.per_ip_per_min),
        })
    }

    /// The windows an authenticated request counts in: its subject's, and where
    /// an endpoint has a lower limit configured, that endpoint's too (first),
    /// so the lower limit lowers what the subject may send there and never
    /// adds to what it may send in all.
    pub fn buckets(&self, subject: &str, limit: u32, path: &str) -> Vec<Bucket> {
        let general = Bucket {
            key: subject.to_owned(),
            limit,
        };
        match self.endpoint(path) {
            Some(e) => vec![
                Bucket {
                    key: format!("{subject}|{}", e.prefix),
                    limit: e.per_min.min(limit),
                },
                general,
            ],
            None => vec![general],
        }
    }

    /// The bucket of an app's own requests to an unauthenticated endpoint
    /// (its token requests): the app's limit, lowered by a rule for `path`,
    /// in a window apart from its API calls, so getting a token does not use
    /// up the quota the token is for.
    pub fn endpoint_bucket(&self, client_id: &str, app_limit: u32, path: &str) -> Bucket {
        Bucket {
            key: format!("app:{client_id}|{path}"),
            limit: self
                .endpoint(path)
                .map_or(app_limit, |e| e.per_min.min(app_limit)),
        }
    }
}

/// Whom an authenticated request is counted against.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Subject {
    /// An access token, issued to `client_id` for `account_id`. A confidential
    /// app's requests share the app's window (Lofty: per app, not per
    /// account). A public app's tokens are anyone's for the asking (a CLI has
    /// no secret), so its window is per account as well: one account cannot
    /// use up the limit of every other user of the CLI.
    App {
        client_id: String,
        account_id: String,
    },
    /// A bare API key: the account's own default app, in development mode.
    Account(String),
}

/// What an app's windows need to know of it, cached for [`APP_LIMIT_CACHE_SECS`].
#[derive(Clone, Copy, Debug)]
struct AppLimit {
    per_min: u32,
    public: bool,
}

/// A counter and its limit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Bucket {
    pub key: String,
    pub limit: u32,
}

/// The answer for one request; becomes the `X-RateLimit-*` headers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Decision {
    pub allowed: bool,
    pub limit: u32,
    pub remaining: u32,
    /// Unix seconds: when the oldest counted request leaves the window; with
    /// `remaining == 0`, when a request will be admitted again.
    pub reset: i64,
    /// The time of the decision (Unix seconds), for `Retry-After`.
    pub now: i64,
}

impl Decision {
    /// Seconds until `reset`, at least 1 (RFC 9110 §10.2.3).
    pub fn retry_after(&self) -> i64 {
        (self.reset - self.now).max(1)
    }
}

/// Counts in one window: `(second, admitted requests)`, oldest first.
///
/// The shared arithmetic of both backends ([`postgres`] does the same in SQL):
/// drop seconds that left the window, admit when `used < limit`, then compute the
/// headers.
#[derive(Clone, Debug, Default)]
pub struct Window {
    buckets: std::collections::VecDeque<(i64, u32)>,
    /// Sum of the buckets' counts.
    used: u64,
}

impl Window {
    pub fn take(&mut self, now: i64, limit: u32) -> Decision {
        while self
            .buckets
            .front()
            .is_some_and(|&(second, _)| second <= now - PERIOD_SECS)
        {
            if let Some((_, n)) = self.buckets.pop_front() {
                self.used -= u64::from(n);
            }
        }
        let allowed = self.used < u64::from(limit);
        if allowed {
            match self.buckets.back_mut() {
                // A clock that stepped back counts in the newest second.
                Some((second, n)) if *second >= now => *n += 1,
                _ => self.buckets.push_back((now, 1)),
            }
            self.used += 1;
        }
        let used = self.used;
        let remaining = u64::from(limit).saturating_sub(used);
        let mut reset = now + PERIOD_SECS;
        let mut freed = 0u64;
        for &(second, n) in &self.buckets {
            freed += u64::from(n);
            reset = second + PERIOD_SECS;
            if remaining > 0 || used - freed < u64::from(limit) {
                break;
            }
        }
        Decision {
            allowed,
            limit,
            remaining: u32::try_from(remaining).unwrap_or(u32::MAX),
            reset,
            now,
        }
    }

    /// Takes back one request admitted at `taken_at`, from the second it was
    /// counted in: `taken_at` itself, or after a clock step back the newest
    /// second (as [`Window::take`] counts). No empty second is left behind, so
    /// Reset stays exact.
    pub fn refund(&mut self, taken_at: i64) {
        let counted = |&(second, n): &(i64, u32)| n > 0 && second == taken_at;
        let later = |&(second, n): &(i64, u32)| n > 0 && second > taken_at;
        let Some(index) = (self.buckets.iter().rposition(counted))
            .or_else(|| self.buckets.iter().rposition(later))
        else {
            return;
        };
        self.used -= 1;
        let (_, n) = &mut self.buckets[index];
        *n -= 1;
        if *n == 0 {
            self.buckets.remove(index);
        }
    }

    /// No request in the window any more: the entry can go.
    pub fn is_idle(&self, now: i64) -> bool {
        self.buckets
            .back()
            .is_none_or(|&(second, _)| second <= now - PERIOD_SECS)
    }
}

/// Where the counters are kept.
pub enum Limiter {
    Memory(memory::MemoryLimiter),
    Postgres(postgres::PostgresLimiter),
    Redis(redis::RedisLimiter),
}

impl Limiter {
    /// Counts one request against `bucket` (when under its limit). A shared
    /// store that cannot answer is [`Error::LimiterUnreachable`].
    pub async fn take(&self, bucket: &Bucket, now: i64) -> Result<Decision> {
        match self {
            Self::Memory(m) => Ok(m.take(&bucket.key, bucket.limit, now)),
            Self::Postgres(p) => p.take(&bucket.key, bucket.limit, now).await,
            Self::Redis(r) => r.take(bucket, now).await,
        }
    }

    /// Gives back a request admitted into `bucket` at `taken_at` that turned
    /// out not to count. (If its second has left the window there is nothing
    /// to give back.)
    pub async fn refund(&self, bucket: &Bucket, taken_at: i64) -> Result<()> {
        match self {
            Self::Memory(m) => {
                m.refund(&bucket.key, taken_at);
                Ok(())
            }
            Self::Postgres(p) => p.refund(&bucket.key, taken_at).await,
            Self::Redis(r) => r.refund(bucket, taken_at).await,
        }
    }

    /// Forgets windows nobody used for a whole period (Redis expires them itself).
    pub async fn prune(&self, now: i64) -> Result<()> {
        match self {
            Self::Memory(m) => {
                m.prune(now);
                Ok(())
            }
            Self::Postgres(p) => p.prune(now).await,
            Self::Redis(_) => Ok(()),
        }
    }
}

/// Rate limiting as the server runs it: policy, counters, and a short-lived copy
/// of each app's limit (so a request costs no extra query).
pub struct RateLimits {
    pub policy: Policy,
    pub backend: Backend,
    pub limiter: Limiter,
    pub unreachable: Unreachable,
    app_limits: Mutex<HashMap<String, (AppLimit, i64)>>,
    /// The last decision failed for want of the store (for one warning per outage).
    failing: AtomicBool,
    /// When the last "not enforced" warning was logged (Unix seconds).
    warned_at: AtomicI64,
}

/// While the store stays unreachable, the warning repeats this often (seconds).
const UNREACHABLE_WARNING_EVERY: i64 = 10;

impl RateLimits {
    /// `policy` over counters in `backend`. Connecting to Redis is lazy: a Redis
    /// that is down at start-up is a warning (and [`Unreachable`] applies until it
    /// is up), a rejected password is an error.
    pub async fn connect(
        policy: Policy,
        backend: Backend,
        unreachable: Unreachable,
        redis_url: Option<&redis::RedisUrl>,
        redis_cluster: bool,
        store: &Store,
    ) -> Result<Self> {
        let limiter = match backend {
            Backend::Memory => Limiter::Memory(memory::MemoryLimiter::default()),
            Backend::Postgres => Limiter::Postgres(postgres::PostgresLimiter::new(store)?),
            Backend::Redis => {
                let url = redis_url.ok_or_else(|| {
                    Error::Config("rate_limit_backend = \"redis\" needs a Redis URL".into())
                })?;
                Limiter::Redis(redis::RedisLimiter::connect(url, redis_cluster).await?)
            }
        };
        Ok(Self {
            policy,
            backend,
            limiter,
            unreachable,
            app_limits: Mutex::new(HashMap::new()),
            failing: AtomicBool::new(false),
            warned_at: AtomicI64::new(i64::MIN),
        })
    }

    /// Counts a request against `bucket`: `Some` decision, or `None` when the
    /// counters cannot be reached and [`Unreachable::Allow`] lets it through
    /// unlimited. With [`Unreachable::Deny`] that is the error (503).
    pub async fn decide(&self, bucket: &Bucket, now: i64) -> Result<Option<Decision>> {
        match self.limiter.take(bucket, now).await {
            Ok(decision) => {
                if self.failing.swap(false, Ordering::Relaxed) {
                    tracing::info!(
                        backend = self.backend.as_str(),
                        "rate-limit counters reachable again: limits enforced"
                    );
                }
                Ok(Some(decision))
            }
            Err(e @ (Error::LimiterUnreachable(_) | Error::Unavailable(_))) => {
                self.unreachable_now(&e, now);
                match self.unreachable {
                    Unreachable::Allow => Ok(None),
                    // As the limiter's failure, whatever the store: warned
                    // about above, not again for each refused request.
                    Unreachable::Deny => Err(match e {
                        Error::Unavailable(cause) => Error::LimiterUnreachable(cause.to_string()),
                        other => other,
                    }),
                }
            }
            Err(e) => Err(e),
        }
    }

    /// Counts the request that found the store unreachable, and warns on the
    /// first one of an outage and then every [`UNREACHABLE_WARNING_EVERY`] s.
    fn unreachable_now(&self, error: &Error, now: i64) {
        let backend = self.backend.as_str();
        metrics::counter!(crate::metrics::RATE_LIMIT_UNENFORCED, "backend" => backend)
            .increment(u64::from(self.unreachable == Unreachable::Allow));
        let first = !self.failing.swap(true, Ordering::Relaxed);
        let last = self.warned_at.load(Ordering::Relaxed);
        if (first || now.saturating_sub(last) >= UNREACHABLE_WARNING_EVERY)
            && self
                .warned_at
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            let consequence = match self.unreachable {
                Unreachable::Allow => {
                    "rate limits are NOT enforced (rate_limit_unreachable = allow)"
                }
                Unreachable::Deny => {
                    "requests are refused with 503 (rate_limit_unreachable = deny)"
                }
            };
            tracing::warn!(backend, error = %error, "rate-limit counters unreachable: {consequence}");
        }
    }

    /// The windows an authenticated request is counted in ([`Policy::buckets`]).
    pub async fn buckets_for(
        &self,
        store: &Store,
        subject: &Subject,
        path: &str,
        now: i64,
    ) -> Result<Vec<Bucket>> {
        let (key, limit) = match subject {
            Subject::App {
                client_id,
                account_id,
            } => {
                let app = self.app_limit(store, client_id, now).await?;
                let key = if app.public {
                    format!("app:{client_id}:account:{account_id}")
                } else {
                    format!("app:{client_id}")
                };
                (key, app.per_min)
            }
            Subject::Account(account_id) => (
                format!("account:{account_id}"),
                self.policy.development_per_min,
            ),
        };
        Ok(self.policy.buckets(&key, limit, path))
    }

    /// Counts a request in every one of `buckets` (narrowest first), or in
    /// none: one that refuses gives back what the others took. The decision
    /// shown is the refusing one, else the one with the least left. `None` as
    /// for [`RateLimits::decide`]: unlimited, nothing kept counted.
    pub async fn decide_all(&self, buckets: &[Bucket], now: i64) -> Result<Option<Decision>> {
        let mut shown: Option<Decision> = None;
        for (i, bucket) in buckets.iter().enumerate() {
            let decision = self.decide(bucket, now).await;
            let refused = match &decision {
                Ok(Some(d)) => !d.allowed,
                Ok(None) | Err(_) => true,
            };
            if refused {
                for taken in &buckets[..i] {
                    if let Err(e) = self.limiter.refund(taken, now).await {
                        tracing::warn!(error = %e, "giving back a request's slot failed");
                    }
                }
                return decision;
            }
            let Ok(Some(d)) = decision else { continue };
            if shown.is_none_or(|s| (d.remaining, d.limit) < (s.remaining, s.limit)) {
                shown = Some(d);
            }
        }
        Ok(shown)
    }

    /// The bucket an app's request to the unauthenticated endpoint `path` (the
    /// token endpoint) is counted in, once the app is known.
    pub async fn endpoint_bucket_for(
        &self,
        store: &Store,
        client_id: &str,
        path: &str,
        now: i64,
    ) -> Result<Bucket> {
        let app = self.app_limit(store, client_id, now).await?;
        Ok(self.policy.endpoint_bucket(client_id, app.per_min, path))
    }

    async fn app_limit(&self, store: &Store, client_id: &str, now: i64) -> Result<AppLimit> {
        if let Some(&(app, fetched)) = self.cache().get(client_id)
            && now - fetched < APP_LIMIT_CACHE_SECS
            && now >= fetched
        {
            return Ok(app);
        }
        // A token whose app was deleted still counts, at the development limit.
        let app = match store.app_by_client_id(client_id).await? {
            Some(app) => AppLimit {
                per_min: self.policy.app_limit(app.mode, app.rate_limit_per_min),
                public: app.public,
            },
            None => AppLimit {
                per_min: self.policy.development_per_min,
                public: false,
            },
        };
        let mut cache = self.cache();
        if cache.len() > 100_000 {
            cache.retain(|_, &mut (_, fetched)| now - fetched < APP_LIMIT_CACHE_SECS);
        }
        cache.insert(client_id.to_owned(), (app, now));
        Ok(app)
    }

    fn cache(&self) -> std::sync::MutexGuard<'_, HashMap<String, (AppLimit, i64)>> {
        self.app_limits
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Parses a limit: `100/min`, `100/m` or `100` (per minute), at least 1.
pub fn parse_per_minute(s: &str) -> std::result::Result<u32, String> {
    let s = s.trim();
    let digits = s
        .strip_suffix("/min")
        .or_else(|| s.strip_suffix("/m"))
        .unwrap_or(s)
        .trim();
    match digits.parse::<u64>() {
        Ok(n) if n > u64::from(u32::MAX) => Err(format!(
            "invalid rate limit {s:?}: at most {} requests per minute",
            u32::MAX
        )),
        Ok(n) if n >= 1 => Ok(n as u32),
        _ => Err(format!(
            "invalid rate limit {s:?}: expected requests per minute, e.g. 100/min (at least 1)"
        )),
    }
}

impl From<Decision> for Error {
    fn from(d: Decision) -> Self {
        Error::RateLimited {
            limit: d.limit,
            reset: d.reset,
            now: d.now,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: i64 = 1_767_225_600;

    #[test]
    fn remaining_counts_down_one_per_request_and_reset_is_exact() {
        let mut w = Window::default();
        for i in 0..5u32 {
            let d = w.take(T, 5);
            assert!(d.allowed);
            assert_eq!(d.remaining, 4 - i);
            assert_eq!(d.reset, T + 60);
        }
        let refused = w.take(T + 10, 5);
        assert!(!refused.allowed);
        assert_eq!(refused.remaining, 0);
        assert_eq!(refused.reset, T + 60);
        assert_eq!(refused.retry_after(), 50);
        // One second before Reset: still refused; at Reset: admitted.
        assert!(!w.take(T + 59, 5).allowed);
        let d = w.take(T + 60, 5);
        assert!(d.allowed);
        assert_eq!(d.remaining, 4);
        assert_eq!(d.reset, T + 120);
    }

    #[test]
    fn a_refund_gives_the_slot_back_and_leaves_reset_exact() {
        let mut w = Window::default();
        assert_eq!(w.take(T, 3).remaining, 2);
        let second = w.take(T + 10, 3);
        assert_eq!((second.remaining, second.reset), (1, T + 60));
        // The request at T+10 did not count after all.
        w.refund(T + 10);
        let next = w.take(T + 20, 3);
        assert_eq!((next.remaining, next.reset), (1, T + 60));
        // Refunding the oldest moves Reset to the next counted request.
        w.refund(T);
        let d = w.take(T + 30, 3);
        assert_eq!((d.remaining, d.reset), (1, T + 80));
        // Nothing counted at or after a second: nothing to give back.
        w.refund(T + 40);
        assert_eq!(w.take(T + 40, 3).remaining, 0);
        assert!(!w.take(T + 41, 3).allowed);
    }

    #[test]
    fn the_window_slides_second_by_second() {
        let mut w = Window::default();
        assert_eq!(w.take(T, 3).remaining, 2);
        assert_eq!(w.take(T + 20, 3).remaining, 1);
        let last = w.take(T + 40, 3);
        assert_eq!((last.remaining, last.reset), (0, T + 60));
        let refused = w.take(T + 50, 3);
        assert!(!refused.allowed);
        assert_eq!(refused.reset, T + 60);
        // The request at T leaves: one slot; the next comes back at T+80.
        let d = w.take(T + 60, 3);
        assert!(d.allowed);
        assert_eq!((d.remaining, d.reset), (0, T + 80));
        assert!(!w.take(T + 79, 3).allowed);
        assert!(w.take(T + 80, 3).allowed);
    }

    #[test]
    fn no_double_burst_at_a_boundary() {
        let mut w = Window::default();
        let admitted = (0..200)
            .filter(|i| w.take(T + 59 + i / 100, 100).allowed)
            .count();
        assert_eq!(admitted, 100);
    }

    #[test]
    fn a_lowered_limit_resets_when_enough_has_left() {
        let mut w = Window::default();
        for _ in 0..3 {
            w.take(T, 10);
        }
        for _ in 0..3 {
            w.take(T + 5, 10);
        }
        // Limit lowered to 2 with 6 counted: admitted again only when both seconds
        // have left (6 - 3 = 3 is still over 2 at T+60).
        let d = w.take(T + 6, 2);
        assert!(!d.allowed);
        assert_eq!(d.reset, T + 65);
    }

    #[test]
    fn idle_windows() {
        let mut w = Window::default();
        assert!(w.is_idle(T));
        w.take(T, 1);
        assert!(!w.is_idle(T + 59));
        assert!(w.is_idle(T + 60));
    }

    #[test]
    fn limits_parse() {
        assert_eq!(parse_per_minute("100/min"), Ok(100));
        assert_eq!(parse_per_minute("7/m"), Ok(7));
        assert_eq!(parse_per_minute("500"), Ok(500));
        assert!(parse_per_minute("0/min").is_err());
        assert!(parse_per_minute("10/h").is_err());
        assert!(parse_per_minute("-1").is_err());
    }

    /// `[rate_limit_endpoints]` holds lower limits: one above
    /// `rate_limit_per_ip` (the default 20/min for one-time codes under a
    /// per-address limit set to 6) must not raise what one address may send
    /// there, as it never raises an app's own limit.
    #[test]
    fn an_endpoint_rule_never_raises_the_per_address_limit() {
        let policy = Policy::new(
            100,
            500,
            6,
            vec![EndpointLimit {
                prefix: "/v1/auth/otp".into(),
                per_min: 20,
            }],
        );
        assert_eq!(
            policy.ip_rule("/v1/auth/otp/verify"),
            Some(("/v1/auth/otp", 6))
        );
        assert_eq!(policy.ip_rule("/device"), Some(("/device", 6)));
    }

    #[test]
    fn endpoint_rules_and_ip_paths() {
        let policy = Policy::new(
            100,
            500,
            300,
            vec![
                EndpointLimit {
                    prefix: "/v1/auth/otp".into(),
                    per_min: 10,
                },
                EndpointLimit {
                    prefix: "/v1/projects".into(),
                    per_min: 50,
                },
            ],
        );
        assert_eq!(policy.ip_rule("/oauth/token"), Some(("/oauth/token", 300)));
        assert_eq!(
            policy.ip_rule("/v1/auth/otp/verify"),
            Some(("/v1/auth/otp", 10))
        );
        assert_eq!(policy.ip_rule("/oauth/tokenx"), None);
        // Guesses at these count in the token endpoint's window.
        for path in ["/oauth/introspect", "/oauth/revoke", "/oauth/session-token"] {
            assert_eq!(policy.ip_rule(path), Some(("/oauth/token", 300)), "{path}");
            assert!(super::guesses_only(path), "{path}");
        }
        assert!(super::guesses_only("/oauth/token"));
        assert!(!super::guesses_only("/oauth/device_authorization"));
        assert_eq!(policy.ip_rule("/device"), Some(("/device", 300)));
        assert_eq!(policy.ip_rule("/developer/apps"), None);
        assert_eq!(policy.ip_rule("/v1/me"), None);
        assert_eq!(
            policy.buckets("app:app_1", 500, "/v1/me"),
            [Bucket {
                key: "app:app_1".into(),
                limit: 500
            }]
        );
        // An endpoint's lower limit is a second window, checked first.
        assert_eq!(
            policy.buckets("account:acct_1", 100, "/v1/projects/p_1"),
            [
                Bucket {
                    key: "account:acct_1|/v1/projects".into(),
                    limit: 50
                },
                Bucket {
                    key: "account:acct_1".into(),
                    limit: 100
                }
            ]
        );
        // An endpoint limit never raises the app's own.
        assert_eq!(policy.buckets("app:app_1", 20, "/v1/projects")[0].limit, 20);
        assert_eq!(
            policy.endpoint_bucket("app_1", 500, "/oauth/token"),
            Bucket {
                key: "app:app_1|/oauth/token".into(),
                limit: 500
            }
        );
        assert_eq!(policy.app_limit(AppMode::Production, None), 500);
        assert_eq!(policy.app_limit(AppMode::Production, Some(42)), 42);
    }
}
