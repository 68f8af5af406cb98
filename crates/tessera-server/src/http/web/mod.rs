//! Server-rendered web pages: sign-in, OAuth consent, device verification, and the
//! console (API keys, apps, sessions, activity).
//!
//! Everything works without JavaScript (one small script only adds copy buttons).
//! Every form carries a CSRF token ([`session::Visitor::csrf_token`]); browser
//! state lives in two cookies, both `HttpOnly; SameSite=Lax` and `Secure` (with
//! the `__Host-` prefix) unless the issuer is plain HTTP on loopback:
//! `tessera_browser` (a random value that binds forms shown before sign-in) and
//! `tessera_session` (a signed-in session, stored hashed in `web_sessions`). Pages are `no-store` and cannot be framed.

pub mod authorize;
pub mod console;
pub mod device;
pub mod page;
pub mod scopes;
pub mod session;
pub mod signin;
#[cfg(test)]
mod tests;

use crate::error::Error;
use crate::http::error::PageError;
use crate::services::AppState;
use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{any, get};

pub const STYLESHEET_PATH: &str = "/static/tessera.css";
pub const SCRIPT_PATH: &str = "/static/tessera.js";
/// The sections of the site that are pages: any other address in them (a
/// mistyped link, an old bookmark) is a page too, the 404 page, not the JSON
/// that answers an unknown API endpoint.
const PAGE_SECTIONS: [&str; 4] = ["/settings", "/developer", signin::PATH, device::PATH];

/// The pages and their assets. `layers` puts the layers every route has (the
/// request timeout and body-size check, per-address limits) around both;
/// [`browser_layer`] goes around those on the pages, so that what those layers
/// refuse (a body over the limit, a timeout, a 429 at `/device`) is answered
/// with a page's headers too.
pub fn routes(
    state: AppState,
    layers: impl Fn(Router<AppState>) -> Router<AppState>,
) -> Router<AppState> {
    let pages = Router::new()
        .merge(signin::routes())
        .merge(authorize::routes())
        .merge(device::routes())
        .merge(console::routes())
        .route("/", get(home))
        // Sign-in and the device page have a page at their section's address,
        // the console's sections do not.
        .route("/settings", any(no_such_page))
        .route("/developer", any(no_such_page));
    // (`{*rest}` matches a non-empty rest only: the bare trailing slash too.)
    let pages = PAGE_SECTIONS.iter().fold(pages, |pages, section| {
        pages
            .route(&format!("{section}/"), any(no_such_page))
            .route(&format!("{section}/{{*rest}}"), any(no_such_page))
    });
    let assets = Router::new()
        .route(STYLESHEET_PATH, get(stylesheet))
        .route(SCRIPT_PATH, get(script));
    Router::new()
        .merge(layers(pages).layer(middleware::from_fn_with_state(state, browser_layer)))
        .merge(layers(assets))
}

/// An address in [`PAGE_SECTIONS`] that no page has.
async fn no_such_page() -> PageError {
    Error::NotFound("There is no such page. Check the address, or start from your account.".into())
        .into()
}

async fn home() -> Redirect {
    Redirect::to(console::keys::PATH)
}

/// Gives every browser a binding cookie and every page its protective headers.
async fn browser_layer(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    let policy = session::CookiePolicy::for_issuer(&state.settings.issuer);
    let existing = (policy.value(request.headers(), session::Cookie::Browser)).map(str::to_owned);
    let created = existing.is_none().then(session::new_browser_id);
    let browser = existing.or_else(|| created.clone()).unwrap_or_default();
    request.extensions_mut().insert(session::BrowserId(browser));
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    if let Some(id) = created
        && let Ok(cookie) = policy.set_cookie(session::Cookie::Browser, &id, None)
    {
        headers.append(header::SET_COOKIE, cookie);
    }
    // Pages hold CSRF tokens, one-time secrets and authorization requests: never
    // cache them, never frame them (clickjacking on consent), never leak the URL.
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            // No `form-action`: Chrome applies it to the redirect after a consent
            // form, and a native app's redirect URI may use any scheme.
            "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self' data:; \
             frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    response
}

async fn stylesheet() -> impl IntoResponse {
    asset(
        "text/css; charset=utf-8",
        include_str!("../../../static/tessera.css"),
    )
}

async fn script() -> impl IntoResponse {
    asset(
        "text/javascript; charset=utf-8",
        include_str!("../../../static/tessera.js"),
    )
}

/// A file the pages load, cached for an hour; taken only as `content_type`.
fn asset(content_type: &'static str, body: &'static str) -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "public, max-age=3600"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        body,
    )
}
