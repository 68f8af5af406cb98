//! Operations endpoints: `/healthz` (liveness), `/readyz` (the database answers),
//! `/metrics`, `/.well-known/jwks.json`, and the 404 of unknown paths.
//!
//! `/metrics` may need a bearer token (`metrics_token`) and may live on a listener
//! of its own (`metrics_listen`, [`metrics_routes`]); the main listener then
//! answers 404 there, so a public port never shows it.

use super::error::documented::{NotFound, Unauthorized};
use super::extract::{Json, presented};
use crate::error::{AuthError, Error};
use crate::keys::Jwks;
use crate::principal::Presented;
use crate::services::AppState;
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Serialize;
use std::time::Duration;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
}

/// The JWKS, apart from [`routes`]: its CORS layer must wrap the router after
/// [`super::timed`] gives it the 405 of other methods; a layer on `get(jwks)`
/// itself is dropped with axum's default 405, and a browser's preflight got
/// that 405 instead of CORS.
pub fn jwks_routes() -> Router<AppState> {
    Router::new().route("/.well-known/jwks.json", get(jwks))
}

/// The router of `--metrics-listen`: metrics and the health checks, so probes and
/// scrapers can stay on the internal address.
pub fn metrics_routes() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(render_metrics))
        .fallback(not_found)
}

#[derive(utoipa::OpenApi)]
#[openapi(paths(healthz, readyz, metrics, jwks))]
pub struct Doc;

/// How long `/readyz` waits for the database: an unreachable host must not keep
/// a probe waiting for the pool's own timeout.
const READY_TIMEOUT: Duration = Duration::from_secs(2);

/// The body of the health checks.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Health {
    /// `ok`, or `unavailable` (`/readyz` only).
    #[schema(example = "ok")]
    status: &'static str,
}

/// Liveness: the process serves HTTP. Touches nothing else.
#[utoipa::path(
    get,
    path = "/healthz",
    tag = "operations",
    responses((status = 200, description = "The process serves HTTP.", body = Health))
)]
async fn healthz() -> impl IntoResponse {
    // `Health { status: "ok" }` as `axum::Json` writes it, made once: the probe
    // that load balancers call most serializes nothing.
    (
        [(header::CONTENT_TYPE, "application/json")],
        r#"{"status":"ok"}"#,
    )
}

/// Readiness: 200 only when the database answers a query now.
#[utoipa::path(
    get,
    path = "/readyz",
    tag = "operations",
    responses(
        (status = 200, description = "The database answers.", body = Health),
        (status = 503, description = "The database does not answer (within 2 s).", body = Health,
            headers(("Retry-After" = u64, description = "Seconds to wait before asking again.")))
    )
)]
async fn readyz(State(state): State<AppState>) -> Response {
    let failure = match tokio::time::timeout(READY_TIMEOUT, state.store.ping()).await {
        Ok(Ok(())) => return Json(Health { status: "ok" }).into_response(),
        Ok(Err(e)) => e.to_string(),
        Err(_) => format!("no answer within {} s", READY_TIMEOUT.as_secs()),
    };
    // Anyone may ask, as often as they like, just while the database is down:
    // logged as the outage the other 503s log, at most every few seconds.
    super::error::database_outage(&failure);
    (
        StatusCode::SERVICE_UNAVAILABLE,
        [(header::RETRY_AFTER, "1")],
        Json(Health {
            status: "unavailable",
        }),
    )
        .into_response()
}

/// Prometheus metrics, among them `tesserad_http_requests_total{route,status}` and
/// `tesserad_tokens_issued_total{grant}`.
///
/// With `metrics_token` set, only `Authorization: Bearer <token>` may read them (else
/// 401); with `metrics_listen` set, they are served there and this listener answers
/// 404.
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "operations",
    security((), ("metrics_token" = [])),
    responses(
        (status = 200, description = "Prometheus text format.", body = String,
            content_type = "text/plain; version=0.0.4"),
        (status = 401, response = Unauthorized),
        (status = 404, response = NotFound)
    )
)]
async fn metrics(State(state): State<AppState>, headers: HeaderMap) -> Response {
    // The 404 of any unknown path: the metrics listener's address is internal,
    // and this listener is the public one.
    if state.settings.metrics_listen.is_some() {
        return not_found().await.into_response();
    }
    render_metrics(State(state), headers).await
}

async fn render_metrics(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if let Some(token) = &state.settings.metrics_token {
        let allowed = matches!(presented(&headers), Ok(Presented::Bearer(t)) if token.matches(t));
        if !allowed {
            return Error::from(AuthError::MetricsToken).into_response();
        }
    }
    match &state.metrics {
        Some(handle) => (
            [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
            handle.render(),
        )
            .into_response(),
        None => Error::NotFound("metrics are not enabled in this process".into()).into_response(),
    }
}

/// The public halves of the signing keys (RFC 7517), by `kid`.
#[utoipa::path(
    get,
    path = "/.well-known/jwks.json",
    tag = "discovery",
    responses((status = 200, description = "JWK Set; old keys stay until their tokens expire.", body = Jwks,
        headers(("Cache-Control" = String, description = "`public, max-age=60`"))))
)]
async fn jwks(State(state): State<AppState>) -> impl IntoResponse {
    (
        // Short, so that a rotation reaches verifiers soon.
        [(header::CACHE_CONTROL, "public, max-age=60")],
        Json(state.keyring.jwks()),
    )
}

pub async fn not_found() -> Error {
    Error::NotFound("no such endpoint".into())
}

#[cfg(test)]
mod tests {
    use crate::testing::{CapturedLog, Fixture};
    use axum::http::StatusCode;

    /// `/readyz` wrote a warning per request while the database was down: a
    /// client hammering it (no authentication, no rate limit) filled the log
    /// just when it is read. It now shares the outage log of the other 503s.
    #[tokio::test]
    async fn readyz_during_an_outage_does_not_log_a_line_per_request() {
        let fx = Fixture::new().await;
        fx.state.store.close().await;
        let (log, _guard) = CapturedLog::start();
        for _ in 0..20 {
            let response = fx.get("/readyz", "").await;
            assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        }
        let lines = log.text().lines().count();
        assert!(
            lines <= 1,
            "{lines} log lines for 20 probes:\n{}",
            log.text()
        );
    }

    /// With `metrics_listen`, the public listener's 404 at `/metrics` named the
    /// metrics listener's address (an internal one, e.g. `10.0.3.7:9090`) to
    /// anyone who asked. It is now the 404 of any unknown path.
    #[tokio::test]
    async fn the_public_metrics_404_does_not_name_the_metrics_listener() {
        let fx = Fixture::with_settings(|s| {
            s.metrics_listen = Some("10.0.3.7:9090".parse().unwrap());
        })
        .await;
        let response = fx.get("/metrics", "").await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND);
        let body = crate::testing::body_json(response).await;
        assert_eq!(body["message"], "no such endpoint", "{body}");
    }
}
