//! Prometheus metrics. Names are constants here so every module counts the same
//! series; `http::middleware::Track` counts requests and `/metrics` renders them.

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use std::collections::HashMap;
use std::sync::{PoisonError, RwLock};
use std::time::Duration;

/// Labels `route` (the matched route pattern), `status`.
pub const HTTP_REQUESTS: &str = "tesserad_http_requests_total";
/// Labels `route`, `status`.
pub const HTTP_DURATION: &str = "tesserad_http_request_duration_seconds";
pub const API_KEYS_ISSUED: &str = "tesserad_api_keys_issued_total";
pub const API_KEYS_REVOKED: &str = "tesserad_api_keys_revoked_total";
/// Label `grant`: one of [`GRANTS`]. Incremented by the token endpoints.
pub const TOKENS_ISSUED: &str = "tesserad_tokens_issued_total";
/// Requests refused with 429. Label `scope` (e.g. `app`, `ip`).
pub const RATE_LIMIT_REJECTIONS: &str = "tesserad_rate_limit_rejections_total";
/// Requests served without a limit because the shared counters could not be
/// reached (`rate_limit_unreachable = allow`). Label `backend`.
pub const RATE_LIMIT_UNENFORCED: &str = "tesserad_rate_limit_unenforced_total";
/// Connections closed for running past a deadline. Label `phase`: `new`
/// (never sent a request), `headers` (a slow sender), `idle` (kept alive),
/// `crowded` (kept alive, closed for a client waiting at the cap).
pub const CONNECTION_TIMEOUTS: &str = "tesserad_connection_timeouts_total";

pub const GRANTS: [&str; 6] = [
    "client_credentials",
    "authorization_code",
    "refresh_token",
    "device_code",
    "session",
    "token_exchange",
];

const LATENCY_BUCKETS: [f64; 12] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
];

/// Installs the process-wide recorder (the `metrics` crate has exactly one) and
/// registers every series at zero, so `/metrics` lists them before first use.
pub fn install() -> Result<PrometheusHandle, String> {
    let handle = PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Full(HTTP_DURATION.into()), &LATENCY_BUCKETS)
        .map_err(|e| e.to_string())?
        .install_recorder()
        .map_err(|e| e.to_string())?;
    metrics::describe_counter!(HTTP_REQUESTS, "HTTP requests by route and status");
    metrics::describe_histogram!(
        HTTP_DURATION,
        metrics::Unit::Seconds,
        "HTTP request latency by route and status"
    );
    metrics::describe_counter!(API_KEYS_ISSUED, "API keys issued");
    metrics::describe_counter!(API_KEYS_REVOKED, "API keys revoked");
    metrics::describe_counter!(TOKENS_ISSUED, "OAuth access tokens issued, by grant");
    metrics::describe_counter!(RATE_LIMIT_REJECTIONS, "requests refused for rate limits");
    metrics::describe_counter!(
        RATE_LIMIT_UNENFORCED,
        "requests served without a rate limit: the shared counters were unreachable"
    );
    metrics::describe_counter!(
        CONNECTION_TIMEOUTS,
        "connections closed past their header-read or idle deadline, or at rest when the cap was reached"
    );
    metrics::counter!(API_KEYS_ISSUED).absolute(0);
    metrics::counter!(API_KEYS_REVOKED).absolute(0);
    for grant in GRANTS {
        metrics::counter!(TOKENS_ISSUED, "grant" => grant).absolute(0);
    }
    for scope in ["app", "ip"] {
        metrics::counter!(RATE_LIMIT_REJECTIONS, "scope" => scope).absolute(0);
    }
    for backend in ["postgres", "redis"] {
        metrics::counter!(RATE_LIMIT_UNENFORCED, "backend" => backend).absolute(0);
    }
    for phase in ["new", "headers", "idle", "crowded"] {
        metrics::counter!(CONNECTION_TIMEOUTS, "phase" => phase).absolute(0);
    }
    Ok(handle)
}

/// The per-request series ([`HTTP_REQUESTS`], [`HTTP_DURATION`]) of each route and
/// status, looked up once and then reused: the `metrics` macros register a
/// series by name and labels on every call, which measured ~6,000 instructions
/// per request, a seventh of a whole `/healthz` (`bench/RESULTS.md`,
/// "Instructions per request"). Routes are the router's patterns, so the map
/// stays small.
#[derive(Debug, Default)]
pub struct RequestSeries {
    by_status: RwLock<HashMap<u16, HashMap<Box<str>, Handles>>>,
}

#[derive(Debug)]
struct Handles {
    requests: metrics::Counter,
    duration: metrics::Histogram,
}

impl RequestSeries {
    /// Counts one request of `route` answered with `status` after `elapsed`.
    pub fn record(&self, route: &str, status: u16, elapsed: Duration) {
        let known = self
            .by_status
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(handles) = known.get(&status).and_then(|routes| routes.get(route)) {
            handles.requests.increment(1);
            handles.duration.record(elapsed);
            return;
        }
        drop(known);
        let labels = [("route", route.to_owned()), ("status", status.to_string())];
        let handles = Handles {
            requests: metrics::counter!(HTTP_REQUESTS, &labels),
            duration: metrics::histogram!(HTTP_DURATION, &labels),
        };
        handles.requests.increment(1);
        handles.duration.record(elapsed);
        self.by_status
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(status)
            .or_default()
            .insert(route.into(), handles);
    }
}
