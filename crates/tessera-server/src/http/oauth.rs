//! The OAuth endpoints: parse the form once into the domain's request types,
//! call [`crate::oauth`], and answer — tokens with `Cache-Control: no-store`,
//! errors in RFC 6749 §5.2 form.

use super::error::{Style, respond};
use super::extract::Form;
use crate::error::{Error, Result};
use crate::oauth::client_auth::ClientCredentials;
use crate::oauth::token::{Grant, TokenRequest};
use crate::oauth::{self, authorization_code, client_credentials, device, refresh};
use crate::services::AppState;
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};
use tessera_proto::OAuthErrorCode;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(oauth::PATH_METADATA, get(discovery))
        .route(oauth::PATH_OPENID_CONFIGURATION, get(discovery))
        .route(oauth::PATH_TOKEN, post(token))
        .route(oauth::PATH_DEVICE_AUTHORIZATION, post(device_authorization))
        .route(oauth::PATH_REVOKE, post(revoke))
        .route(oauth::PATH_INTROSPECT, post(introspect))
        .route(oauth::PATH_SESSION_TOKEN, post(session_token))
}

/// Every endpoint's last step: its answer, or the error in RFC 6749 §5.2 form.
fn reply(result: Result<impl IntoResponse>) -> Response {
    match result {
        Ok(answer) => answer.into_response(),
        Err(e) => respond(Style::OAuth, e),
    }
}

/// A JSON answer that describes or carries tokens, so no cache may keep it; token
/// responses also say `Pragma: no-cache` (RFC 6749 §5.1).
fn no_store(body: impl Serialize, pragma: bool) -> Response {
    let mut response = ([(header::CACHE_CONTROL, "no-store")], axum::Json(body)).into_response();
    if pragma {
        response
            .headers_mut()
            .insert(header::PRAGMA, header::HeaderValue::from_static("no-cache"));
    }
    response
}

/// The client credentials of a request: the `Authorization` header (Basic) and
/// the form's `client_id` / `client_secret`.
fn client(
    headers: &HeaderMap,
    client_id: Option<String>,
    secret: Option<String>,
) -> ClientCredentials {
    ClientCredentials {
        // A value that is not printable ASCII cannot be valid Basic credentials.
        authorization: headers
            .get(header::AUTHORIZATION)
            .map(|v| v.to_str().unwrap_or_default().to_owned()),
        client_id,
        client_secret: secret,
    }
}

async fn discovery(State(state): State<AppState>) -> impl IntoResponse {
    (
        [(header::CACHE_CONTROL, "public, max-age=300")],
        axum::Json(oauth::discovery::metadata(&state.settings.issuer)),
    )
}

/// Every parameter any grant reads. No `Debug`: it holds secrets. A repeated
/// parameter fails to parse (RFC 6749 §3.2: parameters must not repeat).
#[derive(Default, Deserialize)]
struct TokenForm {
    grant_type: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
    scope: Option<String>,
    customer_key: Option<String>,
    code: Option<String>,
    redirect_uri: Option<String>,
    code_verifier: Option<String>,
    refresh_token: Option<String>,
    device_code: Option<String>,
}

impl TokenForm {
    /// The one place a `grant_type` becomes a [`Grant`].
    fn parse(self, headers: &HeaderMap) -> Result<TokenRequest> {
        let grant = match oauth::required(&self.grant_type, "grant_type")? {
            oauth::GRANT_CLIENT_CREDENTIALS => {
                Grant::ClientCredentials(client_credentials::Request {
                    scope: self.scope,
                    customer_key: self.customer_key,
                })
            }
            oauth::GRANT_AUTHORIZATION_CODE => {
                Grant::AuthorizationCode(authorization_code::Request {
                    code: self.code,
                    redirect_uri: self.redirect_uri,
                    code_verifier: self.code_verifier,
                })
            }
            oauth::GRANT_REFRESH_TOKEN => Grant::RefreshToken(refresh::Request {
                refresh_token: self.refresh_token,
                scope: self.scope,
            }),
            oauth::GRANT_DEVICE_CODE => Grant::DeviceCode(device::Poll {
                device_code: self.device_code,
            }),
            other => {
                return Err(Error::oauth(
                    OAuthErrorCode::UnsupportedGrantType,
                    format!("unsupported grant_type {other:?}"),
                ));
            }
        };
        Ok(TokenRequest {
            client: client(headers, self.client_id, self.client_secret),
            grant,
        })
    }
}

async fn token(
    State(state): State<AppState>,
    headers: HeaderMap,
    form: Result<Form<TokenForm>>,
) -> Response {
    let now = state.now();
    reply(
        async {
            let request = form?.0.parse(&headers)?;
            oauth::token::exchange(&state, request, now).await
        }
        .await
        .map(|body| no_store(body, true)),
    )
}

#[derive(Deserialize)]
struct DeviceAuthorizationForm {
    client_id: Option<String>,
    client_secret: Option<String>,
    scope: Option<String>,
}

async fn device_authorization(
    State(state): State<AppState>,
    headers: HeaderMap,
    form: Result<Form<DeviceAuthorizationForm>>,
) -> Response {
    let now = state.now();
    reply(
        async {
            let Form(f) = form?;
            let request = device::AuthorizationRequest {
                client: client(&headers, f.client_id, f.client_secret),
                scope: f.scope,
            };
            device::authorize(&state, request, now).await
        }
        .await
        .map(|body| no_store(body, false)),
    )
}

/// `token_type_hint` is parsed (so that a repeated one is refused) even where
/// it is not needed.
#[derive(Deserialize)]
struct PresentedTokenForm {
    token: Option<String>,
    token_type_hint: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
}

async fn revoke(
    State(state): State<AppState>,
    headers: HeaderMap,
    form: Result<Form<PresentedTokenForm>>,
) -> Response {
    let now = state.now();
    reply(
        async {
            let Form(f) = form?;
            let request = oauth::revoke::Request {
                client: client(&headers, f.client_id, f.client_secret),
                token: f.token,
                token_type_hint: f.token_type_hint,
            };
            oauth::revoke::revoke(&state, request, now).await
        }
        .await
        .map(|()| (StatusCode::OK, [(header::CACHE_CONTROL, "no-store")])),
    )
}

async fn introspect(
    State(state): State<AppState>,
    headers: HeaderMap,
    form: Result<Form<PresentedTokenForm>>,
) -> Response {
    let now = state.now();
    reply(
        async {
            let Form(f) = form?;
            let request = oauth::introspect::Request {
                client: client(&headers, f.client_id, f.client_secret),
                token: f.token,
            };
            oauth::introspect::introspect(&state, request, now).await
        }
        .await
        .map(|body| no_store(body, false)),
    )
}

#[derive(Deserialize)]
struct SessionForm {
    session_id: Option<String>,
}

async fn session_token(State(state): State<AppState>, form: Result<Form<SessionForm>>) -> Response {
    let now = state.now();
    reply(
        async { oauth::session_token::exchange(&state, form?.0.session_id, now).await }
            .await
            .map(|body| no_store(body, true)),
    )
}
