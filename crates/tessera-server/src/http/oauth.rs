//! The OAuth endpoints: parse the form once into the domain's request types,
//! call [`crate::oauth`], and answer — tokens with `Cache-Control: no-store`,
//! errors in RFC 6749 §5.2 form.

use super::error::documented::{InvalidClient, OAuthError, OAuthUnavailable, TooManyRequests};
use super::error::{Style, respond};
use super::extract::Form;
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
use tessera_proto::token::{DeviceAuthorizationResponse, IntrospectionResponse, TokenResponse};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(oauth::PATH_METADATA, get(discovery_metadata))
        .route(oauth::PATH_OPENID_CONFIGURATION, get(discovery_openid))
        .route(oauth::PATH_TOKEN, post(token))
        .route(oauth::PATH_DEVICE_AUTHORIZATION, post(device_authorization))
        .route(oauth::PATH_REVOKE, post(revoke))
        .route(oauth::PATH_INTROSPECT, post(introspect))
        .route(oauth::PATH_SESSION_TOKEN, post(session_token))
}

#[derive(utoipa::OpenApi)]
#[openapi(paths(
    discovery_metadata,
    discovery_openid,
    token,
    device_authorization,
    revoke,
    introspect,
    session_token
))]
pub struct Doc;

const FORM: &str = "application/x-www-form-urlencoded";

/// `grant_type`: the grants discovery advertises, so the two cannot differ.
fn grant_type_schema() -> utoipa::openapi::Object {
    let advertised = oauth::discovery::metadata("").grant_types_supported;
    utoipa::openapi::ObjectBuilder::new()
        .schema_type(utoipa::openapi::Type::String)
        .enum_values(Some(advertised))
        .build()
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

/// Authorization server metadata (RFC 8414): the issuer and every endpoint.
#[utoipa::path(get, path = oauth::PATH_METADATA, tag = "discovery",
    responses((status = 200, description = "RFC 8414 metadata; `issuer` is the configured issuer exactly.",
        body = oauth::discovery::Metadata,
        headers(("Cache-Control" = String, description = "`public, max-age=300`")))))]
async fn discovery_metadata(state: State<AppState>) -> impl IntoResponse {
    discovery(state).await
}

/// The same metadata at the path OpenID Connect clients try first.
#[utoipa::path(get, path = oauth::PATH_OPENID_CONFIGURATION, tag = "discovery",
    responses((status = 200, description = "The RFC 8414 metadata.", body = oauth::discovery::Metadata,
        headers(("Cache-Control" = String, description = "`public, max-age=300`")))))]
async fn discovery_openid(state: State<AppState>) -> impl IntoResponse {
    discovery(state).await
}

async fn discovery(State(state): State<AppState>) -> impl IntoResponse {
    (
        [(header::CACHE_CONTROL, "public, max-age=300")],
        axum::Json(oauth::discovery::metadata(&state.settings.issuer)),
    )
}

/// Every parameter any grant reads. No `Debug`: it holds secrets. A repeated
/// parameter fails to parse (RFC 6749 §3.2: parameters must not repeat).
#[derive(Default, Deserialize, utoipa::ToSchema)]
#[schema(
    description = "A token request (RFC 6749 §4, RFC 8628 §3.4): `grant_type` and \
    the parameters of that grant. A repeated parameter is an `invalid_request`."
)]
struct TokenForm {
    /// The grant (RFC 6749 §4, RFC 8628 §3.4).
    #[schema(schema_with = grant_type_schema, required = true)]
    grant_type: Option<String>,
    /// `client_secret_post`, or a public client's id; or send HTTP Basic instead.
    client_id: Option<String>,
    client_secret: Option<String>,
    /// Space-separated; at most what the grant allows.
    scope: Option<String>,
    /// client_credentials: an API key whose account and scopes the token inherits.
    customer_key: Option<String>,
    /// authorization_code: the code from the redirect.
    code: Option<String>,
    /// authorization_code: the redirect URI of the authorization request.
    redirect_uri: Option<String>,
    /// authorization_code: the PKCE verifier (S256).
    code_verifier: Option<String>,
    /// refresh_token: the refresh token (rotated on use).
    refresh_token: Option<String>,
    /// device_code: the `device_code` of the device authorization.
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

/// The token endpoint (RFC 6749 §3.2): client credentials (with `customer_key`),
/// authorization code + PKCE, refresh token (rotation; replay revokes the family),
/// device code (RFC 8628).
#[utoipa::path(post, path = oauth::PATH_TOKEN, tag = "oauth",
    request_body(content = TokenForm, content_type = FORM),
    security((), ("client_basic" = [])),
    responses(
        (status = 200, description = "Tokens (RFC 6749 §5.1).", body = TokenResponse,
            headers(("Cache-Control" = String, description = "`no-store`"), ("Pragma" = String, description = "`no-cache`"))),
        (status = 400, response = OAuthError),
        (status = 401, response = InvalidClient),
        (status = 429, response = TooManyRequests),
        (status = 503, response = OAuthUnavailable),
    ))]
async fn token(State(state): State<AppState>, Parsed(request): Parsed<TokenForm>) -> Response {
    let result = async { oauth::token::exchange(&state, request?, state.now()).await };
    reply(result.await.map(|body| no_store(body, true)))
}

#[derive(Deserialize, utoipa::ToSchema)]
struct DeviceAuthorizationForm {
    /// The app; confidential apps may authenticate with HTTP Basic instead.
    client_id: Option<String>,
    client_secret: Option<String>,
    /// Space-separated scopes to ask the user for.
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

/// Starts a device flow (RFC 8628 §3.1): a code for the user to enter at
/// `verification_uri`, and one for the device to poll the token endpoint with.
#[utoipa::path(post, path = oauth::PATH_DEVICE_AUTHORIZATION, tag = "oauth",
    request_body(content = DeviceAuthorizationForm, content_type = FORM),
    security((), ("client_basic" = [])),
    responses(
        (status = 200, description = "RFC 8628 §3.2; `interval` is always present.", body = DeviceAuthorizationResponse,
            headers(("Cache-Control" = String, description = "`no-store`"))),
        (status = 400, response = OAuthError),
        (status = 401, response = InvalidClient),
        (status = 429, response = TooManyRequests),
        (status = 503, response = OAuthUnavailable),
    ))]
async fn device_authorization(
    State(state): State<AppState>,
    Parsed(request): Parsed<DeviceAuthorizationForm>,
) -> Response {
    let result = async { device::authorize(&state, request?, state.now()).await };
    reply(result.await.map(|body| no_store(body, false)))
}

/// Revocation and introspection; `token_type_hint` is parsed (so that a
/// repeated one is refused) even where it is not needed.
#[derive(Deserialize, utoipa::ToSchema)]
struct PresentedTokenForm {
    /// The access or refresh token asked about.
    #[schema(required = true)]
    token: Option<String>,
    /// `access_token` or `refresh_token`: only orders the look-ups.
    token_type_hint: Option<String>,
    /// `client_secret_post`, or a public client's id; or send HTTP Basic instead.
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

/// Revokes a token (RFC 7009): 200 also when the token was unknown or already
/// revoked. Revoking a refresh token revokes its whole family.
#[utoipa::path(post, path = oauth::PATH_REVOKE, tag = "oauth",
    request_body(content = PresentedTokenForm, content_type = FORM),
    security((), ("client_basic" = [])),
    responses(
        (status = 200, description = "Revoked, or nothing to revoke.",
            headers(("Cache-Control" = String, description = "`no-store`"))),
        (status = 400, response = OAuthError),
        (status = 401, response = InvalidClient),
        (status = 503, response = OAuthUnavailable),
    ))]
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

/// Token introspection (RFC 7662), for confidential clients.
#[utoipa::path(post, path = oauth::PATH_INTROSPECT, tag = "oauth",
    request_body(content = PresentedTokenForm, content_type = FORM),
    security(("client_basic" = []), ()),
    responses(
        (status = 200, description = "RFC 7662 §2.2; `{\"active\": false}` for anything not valid now.", body = IntrospectionResponse,
            headers(("Cache-Control" = String, description = "`no-store`"))),
        (status = 400, response = OAuthError),
        (status = 401, response = InvalidClient),
        (status = 503, response = OAuthUnavailable),
    ))]
async fn introspect(
    State(state): State<AppState>,
    Parsed(request): Parsed<PresentedTokenForm>,
) -> Response {
    let result = async { oauth::introspect::introspect(&state, request?, state.now()).await };
    reply(result.await.map(|body| no_store(body, false)))
}

#[derive(Deserialize, utoipa::ToSchema)]
struct SessionForm {
    /// From `tesserad admin session create` or the console; single use.
    #[schema(required = true)]
    session_id: Option<String>,
}

impl Endpoint for SessionForm {
    type Request = Option<String>;

    fn request(self, _: Option<String>) -> Result<Option<String>> {
        Ok(self.session_id)
    }
}

/// The token URL (Level 0): a single-use session id for a token response.
#[utoipa::path(post, path = oauth::PATH_SESSION_TOKEN, tag = "oauth",
    request_body(content = SessionForm, content_type = FORM),
    responses(
        (status = 200, description = "Tokens, with `acr` `0`.", body = TokenResponse,
            headers(("Cache-Control" = String, description = "`no-store`"), ("Pragma" = String, description = "`no-cache`"))),
        (status = 400, response = OAuthError),
        (status = 503, response = OAuthUnavailable),
    ))]
async fn session_token(
    State(state): State<AppState>,
    Parsed(session): Parsed<SessionForm>,
) -> Response {
    let result = async { oauth::session_token::exchange(&state, session?, state.now()).await };
    reply(result.await.map(|body| no_store(body, true)))
}
