//! The HTTP surface: one router, built from one `routes()` function per module.
//!
//! Adding endpoints: write `pub fn routes() -> Router<AppState>` in a new module
//! (e.g. `http/oauth.rs`) and merge it in [`router`]. Platform endpoints that need a
//! signed-in caller go into [`v1::routes`] (behind [`auth::platform`]); public ones
//! (OAuth, `/v1/auth/*`) are merged beside it without that layer. Handlers return
//! `Result<_, Error>`; take bodies with [`extract::Json`] / [`extract::Form`] so
//! malformed input is a 400 in our error format.

pub mod extract;
pub mod oauth;
pub mod ops;
pub mod otp;
pub mod v1;

use crate::state::AppState;
use crate::{auth, ratelimit};
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::header;
use axum::middleware;
use tower_http::sensitive_headers::SetSensitiveRequestHeadersLayer;

/// Largest request body any endpoint reads.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// The whole HTTP surface. Rate limits (when on): platform routes count against
/// the caller's app after authentication; the unauthenticated token, device and
/// one-time-code endpoints count per client IP (see [`ratelimit::http`]).
pub fn router(state: AppState) -> Router {
    let mut platform = v1::routes();
    if state.rate_limits.is_some() {
        platform = platform.route_layer(middleware::from_fn_with_state(
            state.clone(),
            ratelimit::http::by_app,
        ));
    }
    let platform = platform.route_layer(middleware::from_fn_with_state(
        state.clone(),
        auth::platform,
    ));
    // Per-IP limits wrap only the routers that serve unauthenticated endpoints
    // (token, device, one-time codes); the layer matches paths, so other routes of
    // these routers pass through, and platform requests never pay for it.
    let by_ip = |routes: Router<AppState>| match state.rate_limits {
        Some(_) => routes.layer(middleware::from_fn_with_state(
            state.clone(),
            ratelimit::http::by_ip,
        )),
        None => routes,
    };
    let app = Router::new()
        .merge(ops::routes())
        .merge(platform)
        .merge(by_ip(oauth::routes()))
        .merge(by_ip(otp::routes()))
        .merge(by_ip(crate::web::routes(state.clone())))
        .fallback(ops::not_found);
    app.layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(middleware::from_fn(crate::metrics::track))
        // Marks credentials so that any layer that prints headers redacts them.
        .layer(SetSensitiveRequestHeadersLayer::new([
            header::AUTHORIZATION,
            header::COOKIE,
        ]))
        .with_state(state)
}
