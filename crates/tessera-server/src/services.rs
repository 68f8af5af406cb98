//! What every handler can reach. Add a field to [`Services`] for a new shared
//! service (a rate limiter, a mailer) and fill it in `server::build_state`.
//!
//! `AppState` is one `Arc`: axum clones the state for every request, and one
//! reference count is cheaper than one per service.

use crate::clock::Clock;
use crate::federation::jwks::IssuerKeys;
use crate::keys::Keyring;
use crate::mail::Mailer;
use crate::ratelimit::RateLimits;
use crate::settings::Settings;
use crate::store::Store;
use metrics_exporter_prometheus::PrometheusHandle;
use std::sync::Arc;

#[derive(Clone)]
pub struct AppState(Arc<Services>);

pub struct Services {
    pub settings: Settings,
    pub store: Store,
    pub keyring: Keyring,
    pub clock: Arc<dyn Clock>,
    /// Outgoing mail (SMTP or the file outbox).
    pub mailer: Mailer,
    /// Renders `/metrics`; `None` when no recorder is installed (some tests).
    pub metrics: Option<PrometheusHandle>,
    /// Every request's count and latency, by route and status.
    pub request_series: crate::metrics::RequestSeries,
    /// `None` when rate limiting is off (`serve --no-rate-limit`).
    pub rate_limits: Option<RateLimits>,
    /// Signing keys of the issuers trust rules name (workload identity federation).
    pub issuers: IssuerKeys,
    /// Password sign-ins' argon2 checks, on threads of their own.
    pub passwords: crate::password::Checker,
    /// Work done after the answer it belongs to (failed sign-in records).
    pub background: Background,
    /// One-time codes on their way to the relay. A pool of their own: a
    /// relay that hangs holds each send up to its deadline, and must not
    /// crowd out the failed sign-in records in `background`.
    pub outgoing_mail: Background,
}

/// Work done after the answer (records whose time would tell which
/// addresses have accounts): at most [`Background::JOBS`] at once; beyond
/// that a job is skipped with a warning, not queued without bound.
#[derive(Clone)]
pub struct Background(Arc<tokio::sync::Semaphore>);

impl Background {
    pub const JOBS: usize = 256;

    pub fn new() -> Self {
        Self(Arc::new(tokio::sync::Semaphore::new(Self::JOBS)))
    }

    /// Runs `job` in the request's span (its failures are logged with the
    /// request id), if there is room.
    pub fn spawn(&self, what: &'static str, job: impl Future<Output = ()> + Send + 'static) {
        let Ok(place) = self.0.clone().try_acquire_owned() else {
            tracing::warn!(what, "skipped: {} jobs already wait", Self::JOBS);
            return;
        };
        let job = async move {
            job.await;
            drop(place);
        };
        tokio::spawn(tracing::Instrument::in_current_span(job));
    }

    /// At shutdown: waits until `deadline` for the jobs still running (a
    /// one-time code on its way to the relay: the client was told it is
    /// coming), and says how many are given up.
    pub async fn finish(&self, deadline: tokio::time::Instant) {
        let all = Self::JOBS as u32;
        if tokio::time::timeout_at(deadline, self.0.acquire_many(all))
            .await
            .is_err()
        {
            let running = Self::JOBS - self.0.available_permits();
            tracing::warn!(running, "stopping with background jobs unfinished");
        }
    }
}

impl Default for Background {
    fn default() -> Self {
        Self::new()
    }
}

impl AppState {
    pub fn new(services: Services) -> Self {
        Self(Arc::new(services))
    }

    /// Unix seconds, from the injected clock.
    pub fn now(&self) -> i64 {
        self.0.clock.now()
    }
}

impl std::ops::Deref for AppState {
    type Target = Services;

    fn deref(&self) -> &Services {
        &self.0
    }
}
