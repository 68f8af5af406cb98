//! Operations endpoints: `/healthz`, `/metrics`, `/.well-known/jwks.json`.

use crate::error::Error;
use crate::services::AppState;
use axum::Router;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .route("/.well-known/jwks.json", get(jwks))
}

/// Liveness: the process serves HTTP. Touches nothing else.
async fn healthz() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/json")],
        r#"{"status":"ok"}"#,
    )
}

async fn metrics(State(state): State<AppState>) -> Response {
    match &state.metrics {
        Some(handle) => (
            [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
            handle.render(),
        )
            .into_response(),
        None => Error::NotFound("metrics are not enabled in this process".into()).into_response(),
    }
}

async fn jwks(State(state): State<AppState>) -> impl IntoResponse {
    (
        // Short, so that a rotation reaches verifiers soon.
        [(header::CACHE_CONTROL, "public, max-age=60")],
        axum::Json(state.keyring.jwks()),
    )
}

pub async fn not_found() -> Error {
    Error::NotFound("no such endpoint".into())
}
