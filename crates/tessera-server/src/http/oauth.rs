//! The OAuth endpoints: parse the form once into the domain's request types,
//! call [`crate::oauth`], and answer — tokens with `Cache-Control: no-store`,
//! errors in RFC 6749 §5.2 form.

use super::error::{Style, respond};
use super::extract::Form;
use super::middleware;
use crate::error::{Error, Result};
use crate::oauth::client_auth::ClientCredentials;
use crate::oauth::token::{Grant, TokenRequest};
use crate::oauth::{self, authorization_code, client_credentials, device, refresh};
use crate::services::AppState;
use axum::Router;
use axum::extract::{FromRequest, Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::convert::Infallible;
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

/// An endpoint's form, turned into the domain's request. `authorization` is the
/// `Authorization` header (Basic client credentials); a value that is not
/// printable ASCII is empty, which cannot be valid credentials.
trait Endpoint: DeserializeOwned {
    type Request;
    fn request(self, authorization: Option<String>) -> Result<Self::Request>;
}

/// The parsed request of an endpoint, or why the form is not acceptable (an
/// error the endpoint answers in RFC 6749 form, like its own).
struct Parsed<F: Endpoint>(Result<F::Request>);

impl<F: Endpoint, S: Send + Sync> FromRequest<S> for Parsed<F> {
    type Rejection = Infallible;

    async fn from_request(request: Request, state: &S) -> Result<Self, Infallible> {
        let authorization = (request.headers().get(header::AUTHORIZATION))
            .map(|v| v.to_str().unwrap_or_default().to_owned());
        Ok(Self(match Form::<F>::from_request(request, state).await {
            Ok(Form(form)) => form.request(authorization),
            Err(e) => Err(e),
        }))
    }
}

fn client(
    authorization: Option<String>,
    id: Option<String>,
    secret: Option<String>,
) -> ClientCredentials {
    ClientCredentials {
        authorization,
        client_id: id,
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

impl Endpoint for TokenForm {
    type Request = TokenRequest;

    /// The one place a `grant_type` becomes a [`Grant`].
    fn request(self, authorization: Option<String>) -> Result<TokenRequest> {
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
        let client = client(authorization, self.client_id, self.client_secret);
        Ok(TokenRequest { client, grant })
    }
}

/// Between authenticating the client and the grant, a confidential client's
/// request counts against its app's rate limit; a guess is marked for the
/// per-address limit ([`middleware::by_ip`]). A public client (a CLI) is
/// shared by all its users, so a limit per app would be one limit for every
/// user's sign-in: its requests are bounded by the credentials they carry
/// (codes, refresh tokens, device codes) and the per-address guess limit.
async fn token(State(state): State<AppState>, Parsed(request): Parsed<TokenForm>) -> Response {
    let now = state.now();
    let mut app_window = None;
    let result = async {
        let request = request?;
        let app = oauth::token::authenticate(&state, &request).await?;
        if !app.public {
            app_window = middleware::by_app_for_grant(&state, &app.client_id, now).await?;
        }
        oauth::token::exchange(&state, &app, request.grant, now).await
    }
    .await;
    let guessed = result.as_ref().is_err_and(oauth::token::is_guess);
    let mut response = reply(result.map(|body| no_store(body, true)));
    if let Some(decision) = app_window {
        middleware::write_headers(&decision, &mut response);
    }
    if guessed {
        response.extensions_mut().insert(middleware::Guessed);
    }
    response
}

#[derive(Deserialize)]
struct DeviceAuthorizationForm {
    client_id: Option<String>,
    client_secret: Option<String>,
    scope: Option<String>,
}

impl Endpoint for DeviceAuthorizationForm {
    type Request = device::AuthorizationRequest;

    fn request(self, authorization: Option<String>) -> Result<Self::Request> {
        let client = client(authorization, self.client_id, self.client_secret);
        Ok(device::AuthorizationRequest {
            client,
            scope: self.scope,
        })
    }
}

async fn device_authorization(
    State(state): State<AppState>,
    Parsed(request): Parsed<DeviceAuthorizationForm>,
) -> Response {
    let result = async { device::authorize(&state, request?, state.now()).await };
    reply(result.await.map(|body| no_store(body, false)))
}

/// Revocation and introspection; `token_type_hint` is parsed (so that a
/// repeated one is refused) even where it is not needed.
#[derive(Deserialize)]
struct PresentedTokenForm {
    token: Option<String>,
    token_type_hint: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
}

impl Endpoint for PresentedTokenForm {
    type Request = oauth::TokenQuestion;

    fn request(self, authorization: Option<String>) -> Result<Self::Request> {
        let client = client(authorization, self.client_id, self.client_secret);
        Ok(oauth::TokenQuestion {
            client,
            token: self.token,
            token_type_hint: self.token_type_hint,
        })
    }
}

async fn revoke(
    State(state): State<AppState>,
    Parsed(request): Parsed<PresentedTokenForm>,
) -> Response {
    let result = async { oauth::revoke::revoke(&state, request?, state.now()).await };
    reply(
        result
            .await
            .map(|()| (StatusCode::OK, [(header::CACHE_CONTROL, "no-store")])),
    )
}

async fn introspect(
    State(state): State<AppState>,
    Parsed(request): Parsed<PresentedTokenForm>,
) -> Response {
    let result = async { oauth::introspect::introspect(&state, request?, state.now()).await };
    reply(result.await.map(|body| no_store(body, false)))
}

#[derive(Deserialize)]
struct SessionForm {
    session_id: Option<String>,
}

impl Endpoint for SessionForm {
    type Request = Option<String>;

    fn request(self, _: Option<String>) -> Result<Option<String>> {
        Ok(self.session_id)
    }
}

async fn session_token(
    State(state): State<AppState>,
    Parsed(session): Parsed<SessionForm>,
) -> Response {
    let result = async { oauth::session_token::exchange(&state, session?, state.now()).await };
    reply(result.await.map(|body| no_store(body, true)))
}
