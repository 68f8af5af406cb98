//! What every handler can reach. Add a field here for a new shared service (a rate
//! limiter, a mailer); keep it cheap to clone (`Arc` inside).

use crate::clock::Clock;
use crate::config::Settings;
use crate::keys::Keyring;
use crate::store::Store;
use metrics_exporter_prometheus::PrometheusHandle;
use std::sync::Arc;

#[derive(Clone)]
pub struct AppState {
    pub settings: Arc<Settings>,
    pub store: Store,
    pub keyring: Arc<Keyring>,
    pub clock: Arc<dyn Clock>,
    /// Renders `/metrics`; `None` when no recorder is installed (some tests).
    pub metrics: Option<PrometheusHandle>,
}

impl AppState {
    /// Unix seconds, from the injected clock.
    pub fn now(&self) -> i64 {
        self.clock.now()
    }
}
