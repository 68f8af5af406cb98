//! The HTTP edge, and the only part of the server that knows axum: the router,
//! extractors, middleware, the one error mapping ([`error`]) and the endpoints,
//! each thin (parse, call the domain, answer).
//!
//! | file | what |
//! |---|---|
//! | [`cross_origin`] | CORS for discovery, the JWKS and the OAuth endpoints |
//! | [`error`] | every `Error` → response (API JSON, RFC 6749, HTML page) |
//! | [`extract`] | `Json`, `OptionalJson`, `Form`, `PageForm`, `FormFields`, `ClientIp`, the `Authorization` header, `Principal` |
//! | [`json`] | every JSON answer's body and header map |
//! | [`middleware`] | authentication of `/v1`, per-app and per-IP rate limits, request metrics |
//! | [`oauth`] | `/oauth/*` and discovery |
//! | [`v1`] | the platform API and `/v1/auth/*` |
//! | [`ops`] | `/healthz`, `/readyz`, `/metrics`, the JWKS |
//! | [`openapi`] | `/openapi.json`, generated from the handlers; its test walks the router |
//! | [`web`] | server-rendered pages |
//!
//! Adding endpoints: write `pub fn routes() -> Router<AppState>` in a module and
//! merge it in [`router`]; give each handler a `#[utoipa::path]` and list it in its
//! module's `Doc` (merged in [`openapi::document`]), or the route test fails. Platform endpoints that need a signed-in caller go into
//! [`v1::platform_routes`] (behind [`middleware::Platform`]); public ones are
//! merged beside it. Handlers return `Result<_, Error>`; take bodies with
//! [`extract::Json`] / [`extract::Form`] so malformed input is a 400 in our format.

pub mod cross_origin;
pub mod error;
pub mod extract;
pub mod json;
pub mod middleware;
pub mod oauth;
pub mod openapi;
pub mod ops;
pub mod v1;
pub mod web;

use crate::services::AppState;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderName, header};
use axum::middleware::from_fn_with_state;
use cross_origin::CrossOrigin;
use error::Style;
use middleware::{Around, Bounded, Platform, Track};
use tower_http::sensitive_headers::SetSensitiveRequestHeadersLayer;

/// Largest request body any endpoint reads.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// The whole HTTP surface. Rate limits (when on): platform routes count against
/// the caller's app after authentication; the unauthenticated token, device and
/// one-time-code endpoints count per client IP (see [`middleware`]).
pub fn router(state: AppState) -> Router {
    let platform = v1::platform_routes().route_layer(Around(Platform(state.clone())));
    // Per-IP limits wrap only the routers that serve unauthenticated endpoints
    // (token, device, one-time codes); the layer matches paths, so other routes of
    // these routers pass through, and platform requests never pay for it.
    let timed = |routes, style| timed(&state, routes, style);
    let limited = |routes: Router<AppState>, style| {
        let routes = match state.rate_limits {
            Some(_) => routes.layer(from_fn_with_state(
                (state.clone(), style),
                middleware::by_ip,
            )),
            None => routes,
        };
        timed(routes, style)
    };
    let app = Router::new()
        .merge(timed(ops::routes(), Style::Api))
        .merge(timed(ops::jwks_routes(), Style::Api).layer(CrossOrigin))
        .merge(timed(openapi::routes(), Style::Api))
        .merge(timed(platform, Style::Api))
        // CORS outermost: a preflight is answered before any limit counts it.
        .merge(limited(oauth::routes(), Style::OAuth).layer(CrossOrigin))
        .merge(limited(v1::public_routes(), Style::Api))
        .merge(web::routes(state.clone(), |pages| {
            limited(pages, Style::Page)
        }))
        .fallback(ops::not_found);
    // One `layer` call for the three (outermost first): each `Router::layer`
    // boxes every route once more, and every request clones a route's boxes
    // (each layer clones its whole inside again); three calls cost
    // every request ~4,000 instructions more than one (bench/RESULTS.md).
    app.layer(
        tower::ServiceBuilder::new()
            // Marks credentials so that any layer that prints headers redacts them
            // (a DPoP proof is good for one request, but until it is used, it is).
            .layer(SetSensitiveRequestHeadersLayer::new([
                header::AUTHORIZATION,
                header::COOKIE,
                HeaderName::from_static("dpop"),
            ]))
            .layer(Around(Track(state.clone())))
            .layer(DefaultBodyLimit::max(MAX_BODY_BYTES)),
    )
    .with_state(state)
}

/// What `--metrics-listen` serves: `/metrics` and the health checks, with request
/// ids, request metrics and the request timeout like the main router.
pub fn metrics_router(state: AppState) -> Router {
    timed(&state, ops::metrics_routes(), Style::Api)
        .layer(Around(Track(state.clone())))
        .with_state(state)
}

/// `routes` with the request timeout, answered in `style`. Outside the other
/// layers of the routes, so that a stuck limiter or database is bounded too.
/// A method a route does not answer is a 405 in `style` too: axum's own is
/// an empty body, which tells a client nothing (axum still adds `Allow`).
fn timed(state: &AppState, routes: Router<AppState>, style: Style) -> Router<AppState> {
    let limit = state.settings.connections.request_timeout;
    let refuse = move |method: axum::http::Method| async move {
        let method = method.to_string();
        error::respond(style, crate::error::Error::MethodNotAllowed { method })
    };
    routes
        .method_not_allowed_fallback(refuse)
        .layer(Around(Bounded(limit, style)))
}
