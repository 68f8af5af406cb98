//! The console: Settings → Integrations → API ([`keys`]), Developer portal → Apps
//! ([`apps`]), sessions and authorized apps ([`sessions`]), and the audit trail
//! ([`activity`]). Every page needs a signed-in [`Member`](super::session::Member).

pub mod activity;
pub mod apps;
pub mod keys;
pub mod sessions;
pub mod trust;

use crate::services::AppState;
use axum::Router;
use axum::extract::{FromRequestParts, Query};
use axum::http::request::Parts;

pub fn routes() -> Router<AppState> {
    Router::new()
        .merge(keys::routes())
        .merge(apps::routes())
        .merge(sessions::routes())
        .merge(activity::routes())
        .merge(trust::routes())
}

/// `HEAD` of a page that shows a secret once: the page is there, and the
/// secret stays for the `GET` (axum would answer `HEAD` with the `GET`
/// handler, which takes the secret and throws the body away).
async fn shown_once_head(_: super::session::Member) -> impl axum::response::IntoResponse {
    [(axum::http::header::CONTENT_TYPE, "text/html; charset=utf-8")]
}

/// A short confirmation after a redirect (`?done=…`): fixed texts only, so a
/// crafted link cannot put words on the page.
pub struct Notice(pub Option<&'static str>);

#[derive(serde::Deserialize)]
struct DoneQuery {
    done: Option<String>,
}

/// A query that does not parse shows no notice: it is decoration, never a reason
/// to refuse the page.
impl<S: Send + Sync> FromRequestParts<S> for Notice {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let done = Query::<DoneQuery>::from_request_parts(parts, state).await;
        Ok(Self(
            done.ok().and_then(|Query(q)| notice(q.done.as_deref())),
        ))
    }
}

fn notice(done: Option<&str>) -> Option<&'static str> {
    Some(match done? {
        "key_revoked" => "The API key was revoked. Requests with it are refused from now on.",
        "key_shown" => {
            "A new key is shown only once, and that one was. If you did not store it, revoke \
             it and generate another."
        }
        "app_registered" => "The app is registered.",
        "secret_shown" => {
            "A new client secret is shown only once, and that one was. If you did not store \
             it, rotate the secret again."
        }
        "session_shown" => {
            "A CLI sign-in session id is shown only once, and that one was. If you did not \
             use it, create another."
        }
        "app_deleted" => "The app was deleted.",
        "app_mode" => "The app's mode was changed.",
        "production_requested" => {
            "Production mode was requested. An administrator will review the app."
        }
        "session_revoked" => "The session was signed out.",
        "trust_added" => "The app now trusts the issuer's tokens that match the rule.",
        "trust_removed" => {
            "The trust rule was removed. Tokens already exchanged run out on their own."
        }
        "authorization_revoked" => {
            "The app's access was revoked. Its refresh tokens no longer work."
        }
        _ => return None,
    })
}
