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
