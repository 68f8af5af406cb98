//! `GET/POST /oauth/authorize`: the authorization code flow's pages (RFC 6749
//! §4.1, PKCE RFC 7636).
//!
//! The request is validated first, before anything else is shown: an untrusted
//! client or redirect URI gets an error page (never a redirect, so this endpoint
//! cannot be used as an open redirector); other invalid requests go back to the
//! client with `error=`. Only then sign-in (if needed) and consent. The POST
//! carries the request in hidden fields and validates it again.

use super::page::{Layout, ok};
use super::scopes::{self, ScopeLine};
use super::session::{Submitted, Visitor, count_creation};
use crate::apps;
use crate::audit::Action;
use crate::error::Error;
use crate::http::error::PageResult;
use crate::http::extract::FormFields;
use crate::oauth::authorize::{self, AuthorizeQuery};
use crate::services::AppState;
use askama::Template;
use axum::Router;
use axum::extract::{Query, RawQuery, State};
use axum::response::{IntoResponse, Redirect};
use axum::routing::get;

pub const PATH: &str = "/oauth/authorize";

pub fn routes() -> Router<AppState> {
    Router::new().route(PATH, get(show).post(decide))
}

/// The authorization endpoint is part of the API (RFC 6749 §3.1) though it
/// answers with pages.
#[derive(utoipa::OpenApi)]
#[openapi(paths(show, decide))]
pub struct Doc;

#[derive(Template)]
#[template(path = "consent.html")]
struct ConsentPage {
    layout: Layout,
    app_name: String,
    client_id: String,
    /// Where the browser goes afterwards (scheme + host), so the user can judge it.
    redirect_host: String,
    scopes: Vec<ScopeLine>,
    /// The request, carried through the form.
    fields: Vec<(&'static str, String)>,
}

/// The request as hidden form fields.
fn hidden_fields(q: &AuthorizeQuery) -> Vec<(&'static str, String)> {
    [
        ("response_type", &q.response_type),
        ("client_id", &q.client_id),
        ("redirect_uri", &q.redirect_uri),
        ("scope", &q.scope),
        ("state", &q.state),
        ("code_challenge", &q.code_challenge),
        ("code_challenge_method", &q.code_challenge_method),
    ]
    .into_iter()
    .filter_map(|(name, value)| value.clone().map(|v| (name, v)))
    .collect()
}

/// The authorization request the consent form carries. A parameter sent
/// twice is refused, as on `/oauth/authorize` (RFC 6749 §3.1): which of the two
/// would count is exactly what a tampered form plays on.
fn query_from(form: &FormFields) -> Result<AuthorizeQuery, Error> {
    let field = |name: &str| match form.all(name)[..] {
        [] => Ok(None),
        [value] => Ok(Some(value.to_owned())),
        _ => Err(Error::BadRequest(format!(
            "The form sent {name} more than once. Go back to the application and sign in again."
        ))),
    };
    Ok(AuthorizeQuery {
        response_type: field("response_type")?,
        client_id: field("client_id")?,
        redirect_uri: field("redirect_uri")?,
        scope: field("scope")?,
        state: field("state")?,
        code_challenge: field("code_challenge")?,
        code_challenge_method: field("code_challenge_method")?,
    })
}

fn redirect_host(uri: &str) -> String {
    url::Url::parse(uri)
        .ok()
        .map(|u| match (u.host_str(), u.port()) {
            (Some(h), Some(p)) => format!("{}://{h}:{p}", u.scheme()),
            (Some(h), None) => format!("{}://{h}", u.scheme()),
            _ => u.scheme().to_owned(),
        })
        .unwrap_or_default()
}

/// The authorization endpoint (RFC 6749 §4.1.1, PKCE S256): validates the request,
/// then sign-in and the consent page.
#[utoipa::path(get, path = PATH, tag = "oauth", params(AuthorizeQuery),
    responses(
        (status = 200, description = "The consent page.", content_type = "text/html"),
        (status = 303, description = "To sign-in first, or back to the client with `error=` (RFC 6749 §4.1.2.1).",
            headers(("Location" = String))),
        (status = 400, description = "An error page: unknown client or an unregistered redirect URI (never redirected to).",
            content_type = "text/html"),
        (status = 503, description = "The database cannot be reached right now.", content_type = "text/html"),
    ))]
async fn show(
    State(state): State<AppState>,
    visitor: Visitor,
    RawQuery(raw): RawQuery,
    query: Result<Query<AuthorizeQuery>, axum::extract::rejection::QueryRejection>,
) -> PageResult {
    let Ok(Query(q)) = query else {
        return Err(Error::BadRequest(
            "This sign-in link is malformed. Go back to the app and start again.".into(),
        )
        .into());
    };
    // Validation first: an invalid request never reaches sign-in.
    let request = authorize::validate(&state, &q).await?;
    if visitor.signed_in.is_none() {
        let back = format!("{PATH}?{}", raw.unwrap_or_default());
        return Err(Error::SignInRequired { return_to: back }.into());
    }
    Ok(ok(&ConsentPage {
        layout: visitor.bare_layout(format!("Authorize {}", request.client_name)),
        app_name: request.client_name.clone(),
        client_id: request.client_id.clone(),
        redirect_host: redirect_host(&request.redirect_uri),
        scopes: scopes::lines(&request.scope),
        fields: hidden_fields(&q),
    }))
}

/// The consent form: approve (redirect with `code`) or deny (`error=access_denied`).
#[utoipa::path(post, path = PATH, tag = "oauth",
    request_body(content_type = "application/x-www-form-urlencoded",
        description = "The authorization request's parameters (hidden fields), `decision` (`approve` or `deny`) and `csrf`."),
    responses(
        (status = 303, description = "Back to the client with `code` or `error`, or to sign-in.",
            headers(("Location" = String))),
        (status = 400, description = "An error page: invalid request or form (e.g. an expired form).",
            content_type = "text/html"),
        (status = 503, description = "The database cannot be reached right now.", content_type = "text/html"),
    ))]
async fn decide(
    State(state): State<AppState>,
    Submitted { member, body: form }: Submitted<FormFields>,
) -> PageResult {
    let request = authorize::validate(&state, &query_from(&form)?).await?;
    match form.all("decision")[..] {
        ["approve"] => {
            count_creation(&state, &member).await?;
            let now = state.now();
            let url = authorize::issue_code(
                &state,
                &request,
                member.account_id(),
                &request.scope,
                state.now(),
            )
            .await?;
            let (client_id, actor) = (&request.client_id, member.actor());
            let action = Action::AppAuthorized;
            apps::authorize(&state.store, actor, client_id, &request.scope, action, now).await?;
            Ok(Redirect::to(url.as_str()).into_response())
        }
        ["deny"] => Ok(Redirect::to(authorize::deny_redirect(&request).as_str()).into_response()),
        _ => Err(Error::BadRequest("Choose Allow or Deny.".into()).into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_consent_form_with_a_repeated_parameter_is_refused() {
        let form = |pairs: &[(&str, &str)]| {
            FormFields(
                pairs
                    .iter()
                    .map(|(n, v)| (n.to_string(), v.to_string()))
                    .collect(),
            )
        };
        let once = query_from(&form(&[("client_id", "app_1"), ("state", "s")])).unwrap();
        assert_eq!(once.client_id.as_deref(), Some("app_1"));
        assert_eq!(once.scope, None);
        let twice = [
            ("redirect_uri", "https://a.example/cb"),
            ("redirect_uri", "https://evil.example/cb"),
        ];
        match query_from(&form(&twice)) {
            Err(Error::BadRequest(why)) => {
                assert!(why.contains("redirect_uri more than once"), "{why}")
            }
            other => panic!("{:?}", other.map(|q| q.redirect_uri)),
        }
    }

    #[test]
    fn hosts_are_shown_without_paths() {
        assert_eq!(
            redirect_host("http://127.0.0.1:4321/cb?x=1"),
            "http://127.0.0.1:4321"
        );
        assert_eq!(
            redirect_host("https://app.example.com/cb"),
            "https://app.example.com"
        );
    }
}
