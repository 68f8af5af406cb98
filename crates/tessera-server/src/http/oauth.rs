//! The OAuth endpoints: parse the form once into the domain's request types,
//! call [`crate::oauth`], and answer — tokens with `Cache-Control: no-store`,
//! errors in RFC 6749 §5.2 form.

use super::error::documented::{InvalidClient, OAuthError, OAuthUnavailable, TooManyRequests};
use super::error::{Style, respond};
use super::extract::{Form, Json, dpop_proof};
use super::middleware;
use crate::dpop;
use crate::error::{Error, Result};
use crate::oauth::client_auth::ClientCredentials;
use crate::oauth::token::{Grant, TokenRequest};
use crate::oauth::{self, authorization_code, client_credentials, device, refresh, token_exchange};
use crate::services::AppState;
use axum::Router;
use axum::extract::{FromRequest, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::convert::Infallible;
use tessera_proto::OAuthErrorCode;
use tessera_proto::dpop as dpop_wire;
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

/// Every endpoint's last step: its answer, or the error in RFC 6749 §5.2 form,
/// marked [`middleware::Guessed`] when it is a guess (a wrong client secret or
/// grant, an unknown session id), which the per-address limit keeps counted.
fn reply(result: Result<impl IntoResponse>) -> Response {
    match result {
        Ok(answer) => answer.into_response(),
        Err(e) => {
            let guessed = oauth::token::is_guess(&e);
            let mut response = respond(Style::OAuth, e);
            if guessed {
                response.extensions_mut().insert(middleware::Guessed);
            }
            response
        }
    }
}

/// A JSON answer that describes or carries tokens, so no cache may keep it; token
/// responses also say `Pragma: no-cache` (RFC 6749 §5.1).
fn no_store(body: impl Serialize, pragma: bool) -> Response {
    let mut response = ([(header::CACHE_CONTROL, "no-store")], Json(body)).into_response();
    if pragma {
        response
            .headers_mut()
            .insert(header::PRAGMA, header::HeaderValue::from_static("no-cache"));
    }
    response
}

/// An endpoint's form, turned into the domain's request. `authorization` is the
/// `Authorization` header (Basic client credentials); a value that is not
/// printable ASCII is empty, which cannot be valid credentials. A request with
/// two is refused before its form is read.
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
        let mut values = request.headers().get_all(header::AUTHORIZATION).iter();
        let authorization = (values.next()).map(|v| v.to_str().unwrap_or_default().to_owned());
        if values.next().is_some() {
            // RFC 6749 §2.3: one authentication method per request. Using one of
            // two would let whoever added the other choose which counts.
            return Ok(Self(Err(oauth::invalid_request(
                "send one Authorization header: one client authentication method per request",
            ))));
        }
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
        Json(oauth::discovery::metadata(&state.settings.issuer)),
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
    /// client_credentials: the API the token is for, an absolute URI (RFC 8707),
    /// put in the token's `aud`. Token exchange: must be this server's issuer.
    resource: Option<String>,
    /// Token exchange (RFC 8693): the foreign JWT (e.g. a CI job's OIDC token)
    /// that a trust rule of the app accepts; it authenticates the request, no
    /// client secret is needed.
    subject_token: Option<String>,
    /// Token exchange: `urn:ietf:params:oauth:token-type:jwt` or
    /// `urn:ietf:params:oauth:token-type:id_token`.
    subject_token_type: Option<String>,
    /// Token exchange: `urn:ietf:params:oauth:token-type:access_token` (the only
    /// type issued) or absent.
    requested_token_type: Option<String>,
    /// Token exchange: not supported (no delegation); a request with one is refused.
    actor_token: Option<String>,
    /// Token exchange: must be this server's issuer when given.
    audience: Option<String>,
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
                    resource: self.resource,
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
            oauth::GRANT_TOKEN_EXCHANGE => Grant::TokenExchange(token_exchange::Request {
                subject_token: self.subject_token,
                subject_token_type: self.subject_token_type,
                requested_token_type: self.requested_token_type,
                actor_token: self.actor_token,
                scope: self.scope,
                audience: self.audience,
                resource: self.resource,
            }),
            other => {
                return Err(Error::oauth(
                    OAuthErrorCode::UnsupportedGrantType,
                    format!("unsupported grant_type {other:?}"),
                ));
            }
        };
        let client = client(authorization, self.client_id, self.client_secret);
        Ok(TokenRequest {
            client,
            grant,
            dpop: None,
        })
    }
}

/// The token endpoint (RFC 6749 §3.2): client credentials (with `customer_key`,
/// `resource`), authorization code + PKCE, refresh token (rotation; replay revokes
/// the family), device code (RFC 8628), token exchange (RFC 8693: a foreign JWT
/// for an access token, no client secret). With a `DPoP` proof (RFC 9449) the
/// tokens are bound to its key (`token_type` `DPoP`).
///
/// Between authenticating the client (and checking its proof) and the grant, a
/// confidential client's request counts against its app's rate limit, in a
/// window apart from its API calls; a guess is marked for the per-address limit
/// ([`middleware::by_ip`]). A public client (a CLI) is shared by all its users,
/// so a limit per app would be one limit for every user's sign-in: its requests
/// are bounded by the credentials they carry (codes, refresh tokens, device
/// codes) and the per-address guess limit. So is a token exchange, whose app is
/// only named (anyone could spend its window) until the subject token is
/// accepted.
#[utoipa::path(post, path = oauth::PATH_TOKEN, tag = "oauth",
    request_body(content = TokenForm, content_type = FORM),
    params(("DPoP" = Option<String>, Header,
        description = "A DPoP proof (RFC 9449 §4): a JWT signed by the key the tokens are to be bound to. Required by apps that require DPoP.")),
    security((), ("client_basic" = [])),
    responses(
        (status = 200, description = "Tokens (RFC 6749 §5.1); `token_type` is `DPoP` when bound to the proof's key.", body = TokenResponse,
            headers(
                ("Cache-Control" = String, description = "`no-store`"),
                ("Pragma" = String, description = "`no-cache`"),
                ("DPoP-Nonce" = String, description = "After a DPoP proof: the nonce for the next proof (RFC 9449 §8.2).")
            )),
        (status = 400, response = OAuthError),
        (status = 401, response = InvalidClient),
        (status = 429, response = TooManyRequests),
        (status = 503, response = OAuthUnavailable),
    ))]
async fn token(
    State(state): State<AppState>,
    headers: HeaderMap,
    Parsed(request): Parsed<TokenForm>,
) -> Response {
    let now = state.now();
    let proof = dpop_proof(&headers);
    let proved = matches!(proof, Ok(Some(_)));
    let mut app_window = None;
    let result = async {
        let mut request = request?;
        request.dpop = proof?.map(str::to_owned);
        let request = oauth::token::authenticate(&state, request, now).await?;
        if let Some(app) = request.app().filter(|app| !app.public) {
            app_window = middleware::by_app_for_grant(&state, &app.client_id, now).await?;
        }
        oauth::token::exchange(&state, request, now).await
    }
    .await;
    let mut response = reply(result.map(|body| no_store(body, true)));
    if let Some(decision) = app_window {
        middleware::write_headers(&decision, &mut response);
    }
    // RFC 9449 §8.2: the next nonce with every answer to a proof, so the
    // client's next request needs no extra round trip for it.
    if proved && state.settings.dpop_nonce.at_token_endpoint() {
        let nonce = dpop::nonce(&state.settings.master_key, now);
        if let Ok(value) = HeaderValue::from_str(&nonce) {
            (response.headers_mut())
                .entry(dpop_wire::NONCE_HEADER)
                .or_insert(value);
        }
    }
    response
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
    request_body(content = Option<DeviceAuthorizationForm>, content_type = FORM,
        description = "Optional: a confidential client with HTTP Basic may send no body."),
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
        (status = 429, response = TooManyRequests),
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
        (status = 429, response = TooManyRequests),
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
        (status = 429, response = TooManyRequests),
        (status = 503, response = OAuthUnavailable),
    ))]
async fn session_token(
    State(state): State<AppState>,
    Parsed(session): Parsed<SessionForm>,
) -> Response {
    let result = async { oauth::session_token::exchange(&state, session?, state.now()).await };
    reply(result.await.map(|body| no_store(body, true)))
}

#[cfg(test)]
mod tests {
    use crate::apps::NewApp;
    use crate::testing::{Fixture, body_json};
    use axum::body::Body;
    use axum::http::{Request, StatusCode, header};
    use base64::Engine as _;

    fn basic(id: &str, secret: &str) -> String {
        let pair = base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}"));
        format!("Basic {pair}")
    }

    /// RFC 6749 §2.3: one authentication method per request. Two
    /// `Authorization` headers are refused at every endpoint that reads one,
    /// whichever comes first, as `/v1` refuses them; none is picked silently.
    #[tokio::test]
    async fn two_authorization_headers_are_an_invalid_request() {
        let fx = Fixture::new().await;
        let account = fx.account("two@example.com").await;
        let created = fx.app(&account, NewApp::named("Svc")).await;
        let id = created.app.client_id;
        let secret = created.client_secret.unwrap();
        let good = basic(&id, secret.expose_secret());
        let forms = [
            ("/oauth/token", "grant_type=client_credentials"),
            ("/oauth/device_authorization", ""),
            ("/oauth/revoke", "token=x"),
            ("/oauth/introspect", "token=x"),
        ];
        for (path, form) in forms {
            let alone = Request::post(path)
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .header(header::AUTHORIZATION, &good)
                .body(Body::from(form))
                .unwrap();
            assert_eq!(fx.send(alone).await.status(), StatusCode::OK, "{path}");
            for second in [basic(&id, "wrong"), "Bearer x".to_owned()] {
                let request = Request::post(path)
                    .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                    .header(header::AUTHORIZATION, &good)
                    .header(header::AUTHORIZATION, second)
                    .body(Body::from(form))
                    .unwrap();
                let response = fx.send(request).await;
                assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{path}");
                assert_eq!(response.headers()[header::CACHE_CONTROL], "no-store");
                let body = body_json(response).await;
                assert_eq!(body["error"], "invalid_request", "{path}: {body}");
                let why = body["error_description"].as_str().unwrap();
                assert!(why.contains("one Authorization header"), "{path}: {why}");
            }
        }
    }

    /// A media type is case-insensitive (RFC 9110 §8.3.1), and a request
    /// with no parameters to send may come without a body or its type: a
    /// confidential client starting a device login with Basic only.
    #[tokio::test]
    async fn an_empty_body_needs_no_type_and_a_type_any_case() {
        let fx = Fixture::new().await;
        let account = fx.account("device@example.com").await;
        let created = fx.app(&account, NewApp::named("Kiosk")).await;
        let good = basic(
            &created.app.client_id,
            created.client_secret.unwrap().expose_secret(),
        );
        let bare = Request::post("/oauth/device_authorization")
            .header(header::AUTHORIZATION, &good)
            .body(Body::empty())
            .unwrap();
        let response = fx.send(bare).await;
        assert_eq!(
            response.status(),
            StatusCode::OK,
            "{:?}",
            body_json(response).await
        );
        let shouting = Request::post("/oauth/token")
            .header(
                header::CONTENT_TYPE,
                "Application/X-WWW-Form-URLEncoded; Charset=UTF-8",
            )
            .header(header::AUTHORIZATION, &good)
            .body(Body::from("grant_type=client_credentials"))
            .unwrap();
        assert_eq!(fx.send(shouting).await.status(), StatusCode::OK);
        // A body of another type is still refused, with what to send.
        let json = Request::post("/oauth/token")
            .header(header::CONTENT_TYPE, "application/json")
            .header(header::AUTHORIZATION, &good)
            .body(Body::from(r#"{"grant_type":"client_credentials"}"#))
            .unwrap();
        let refused = body_json(fx.send(json).await).await;
        assert_eq!(refused["error"], "invalid_request");
    }
}

/// Property tests: whatever form reaches an OAuth endpoint, the answer is a
/// documented one (RFC 6749 §5.2, RFC 7009, RFC 7662, RFC 8628), never a 5xx, and
/// a repeated parameter is `invalid_request` (RFC 6749 §3.2).
#[cfg(test)]
mod proptests {
    use crate::testing::{Fixture, body_json};
    use axum::body::Body;
    use axum::http::{Request, StatusCode, header};
    use base64::Engine as _;
    use proptest::prelude::*;
    use proptest::test_runner::{Config, TestCaseError, TestRunner};

    /// Each endpoint with the parameters its form reads.
    const ENDPOINTS: [(&str, &[&str]); 5] = [
        (
            "/oauth/token",
            &[
                "grant_type",
                "client_id",
                "client_secret",
                "scope",
                "customer_key",
                "code",
                "redirect_uri",
                "code_verifier",
                "refresh_token",
                "device_code",
            ],
        ),
        (
            "/oauth/revoke",
            &["token", "token_type_hint", "client_id", "client_secret"],
        ),
        (
            "/oauth/introspect",
            &["token", "token_type_hint", "client_id", "client_secret"],
        ),
        (
            "/oauth/device_authorization",
            &["client_id", "client_secret", "scope"],
        ),
        ("/oauth/session-token", &["session_id"]),
    ];

    /// `error` values an OAuth endpoint may answer with.
    const ERRORS: [&str; 10] = [
        "invalid_request",
        "invalid_client",
        "invalid_grant",
        "unauthorized_client",
        "unsupported_grant_type",
        "invalid_scope",
        "authorization_pending",
        "slow_down",
        "expired_token",
        "access_denied",
    ];

    #[derive(Clone, Debug)]
    struct Attempt {
        endpoint: usize,
        fields: Vec<(String, String)>,
        /// Replaces the encoded fields when set: bytes that may not be a form.
        raw: Option<Vec<u8>>,
        content_type: Option<&'static str>,
        basic: Option<(String, String)>,
    }

    impl Attempt {
        /// A parameter of the endpoint's form that appears more than once.
        fn repeats_a_parameter(&self) -> bool {
            let known = ENDPOINTS[self.endpoint].1;
            known
                .iter()
                .any(|k| self.fields.iter().filter(|(n, _)| n == k).count() > 1)
        }

        fn well_formed(&self) -> bool {
            self.raw.is_none() && self.content_type == Some("application/x-www-form-urlencoded")
        }
    }

    /// Names and values drawn mostly from what the endpoints know (real client
    /// ids and secrets, grant types, a live API key), plus arbitrary text.
    fn attempts(real: Vec<String>) -> impl Strategy<Value = Attempt> {
        let names: Vec<String> = ENDPOINTS
            .iter()
            .flat_map(|(_, names)| names.iter().map(|n| (*n).to_owned()))
            .chain(["foo", "", "grant_type[]"].map(str::to_owned))
            .collect();
        let mut pool = real;
        pool.extend(
            [
                "client_credentials",
                "authorization_code",
                "refresh_token",
                "password",
                "urn:ietf:params:oauth:grant-type:device_code",
                "THIRD_PARTY_OPERATION",
                "api_keys:write",
                "refresh_token",
                "access_token",
                "rt_0000",
                "eyJhbGciOiJub25lIn0.e30.",
                "",
            ]
            .map(str::to_owned),
        );
        let name = prop_oneof![4 => proptest::sample::select(names), 1 => ".{0,12}"];
        let value = prop_oneof![4 => proptest::sample::select(pool.clone()), 1 => ".{0,40}"];
        let content_type = prop_oneof![
            8 => Just(Some("application/x-www-form-urlencoded")),
            1 => Just(Some("application/json")),
            1 => Just(None),
        ];
        let basic = proptest::option::of((
            proptest::sample::select(pool.clone()),
            proptest::sample::select(pool),
        ));
        (
            0..ENDPOINTS.len(),
            proptest::collection::vec((name, value), 0..8),
            proptest::option::weighted(0.1, proptest::collection::vec(any::<u8>(), 0..64)),
            content_type,
            basic,
        )
            .prop_map(|(endpoint, fields, raw, content_type, basic)| Attempt {
                endpoint,
                fields,
                raw,
                content_type,
                basic,
            })
    }

    fn request(a: &Attempt) -> Request<Body> {
        let body = a.raw.clone().unwrap_or_else(|| {
            url::form_urlencoded::Serializer::new(String::new())
                .extend_pairs(&a.fields)
                .finish()
                .into_bytes()
        });
        let mut builder = Request::post(ENDPOINTS[a.endpoint].0);
        if let Some(content_type) = a.content_type {
            builder = builder.header(header::CONTENT_TYPE, content_type);
        }
        if let Some((id, secret)) = &a.basic {
            let pair = base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}"));
            builder = builder.header(header::AUTHORIZATION, format!("Basic {pair}"));
        }
        builder.body(Body::from(body)).unwrap()
    }

    /// The documented answer, or why not.
    async fn check(fx: &Fixture, a: &Attempt) -> Result<(), String> {
        let response = fx.send(request(a)).await;
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .map_err(|e| e.to_string())?;
        if status == StatusCode::OK {
            return if a.repeats_a_parameter() && a.well_formed() {
                Err("a repeated parameter was accepted".into())
            } else {
                Ok(())
            };
        }
        let body: serde_json::Value =
            serde_json::from_slice(&bytes).map_err(|e| format!("{status}: not JSON: {e}"))?;
        let error = body["error"].as_str().unwrap_or_default();
        if !ERRORS.contains(&error) {
            return Err(format!("{status}: undocumented error {body}"));
        }
        let extra = body.as_object().into_iter().flatten().map(|(k, _)| k);
        if let Some(k) = extra
            .into_iter()
            .find(|k| !matches!(k.as_str(), "error" | "error_description" | "interval"))
        {
            return Err(format!("unexpected field {k} in {body}"));
        }
        if headers.get(header::CACHE_CONTROL).map(|v| v.as_bytes()) != Some(b"no-store") {
            return Err(format!("{status} without no-store"));
        }
        match status {
            StatusCode::BAD_REQUEST if error != "invalid_client" => {}
            StatusCode::UNAUTHORIZED
                if error == "invalid_client" && headers.contains_key(header::WWW_AUTHENTICATE) => {}
            _ => return Err(format!("{status} with {body}")),
        }
        if a.repeats_a_parameter() && a.well_formed() && error != "invalid_request" {
            return Err(format!("a repeated parameter gave {body}"));
        }
        Ok(())
    }

    #[test]
    fn any_form_gets_a_documented_answer() {
        let (rt, fx) = Fixture::blocking();
        let real = rt.block_on(async {
            let account = fx.account("forms@example.com").await;
            let confidential = fx.app(&account, crate::apps::NewApp::named("Svc")).await;
            let public = crate::apps::NewApp::public_client("CLI", "cli");
            fx.app(&account, public).await;
            let key = fx.api_key(&account, None).await;
            let secret = confidential.client_secret.unwrap();
            vec![
                confidential.app.client_id,
                secret.expose_secret().to_owned(),
                "cli".to_owned(),
                key.key.expose_secret().to_owned(),
            ]
        });
        // A sanity check of the harness: a good form gets its tokens.
        let good = Attempt {
            endpoint: 0,
            fields: vec![
                ("grant_type".into(), "client_credentials".into()),
                ("client_id".into(), real[0].clone()),
                ("client_secret".into(), real[1].clone()),
            ],
            raw: None,
            content_type: Some("application/x-www-form-urlencoded"),
            basic: None,
        };
        let response = rt.block_on(fx.send(request(&good)));
        assert_eq!(response.status(), StatusCode::OK);
        assert!(rt.block_on(body_json(response))["access_token"].is_string());

        let config = Config {
            cases: 400,
            failure_persistence: None,
            ..Config::default()
        };
        TestRunner::new(config)
            .run(&attempts(real), |a| {
                rt.block_on(check(&fx, &a)).map_err(TestCaseError::fail)
            })
            .unwrap();
    }
}
