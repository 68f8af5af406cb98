//! Helpers for the OAuth tests: apps via `tesserad admin`, PKCE pairs, token
//! requests over HTTP, and the server's domain API in this process (on the same
//! database) for the steps a browser would take on the web pages: authorization
//! (`oauth::authorize::validate` + `issue_code`) and device approval.

use crate::support::{Backend, Demo, Server};
use base64::Engine as _;
use reqwest::StatusCode;
use serde_json::Value;
use sha2::{Digest as _, Sha256};
use std::sync::Arc;
use tessera_server::AppState;
use tessera_server::cli::settings::{ServeOverrides, SettingsArgs, resolve};
use tessera_server::clock::SystemClock;
use tessera_server::oauth::authorize::{self, AuthorizeQuery};
use tessera_server::secret::{Secret, SecretUrl};

pub const LOOPBACK: &str = "http://127.0.0.1/callback";

/// A server, its domain API, an account with an API key, and the public app
/// `lofty-cli` registered by that account.
pub async fn setup(backend: Backend) -> (Server, AppState, Demo, String) {
    let server = Server::start(backend).await;
    let domain = domain(&server).await;
    let demo = server.demo_account().await;
    let cli = public_app(&server, &demo.email, "lofty-cli");
    (server, domain, demo, cli)
}

/// The server's domain API, in this process, on the server's database.
pub async fn domain(server: &Server) -> AppState {
    let args = SettingsArgs {
        database: Some(SecretUrl::new(server.database.url.clone())),
        issuer: Some(server.url.clone()),
        mail_outbox: Some(server.scratch().join("outbox-domain")),
        ..Default::default()
    };
    let settings = resolve(
        &args,
        ServeOverrides::default(),
        Some(Secret::new(server.master_key.clone())),
    )
    .expect("settings");
    tessera_server::server::build_state(settings, Arc::new(SystemClock), None)
        .await
        .expect("domain state")
}

pub struct ConfidentialApp {
    pub client_id: String,
    pub client_secret: String,
}

impl ConfidentialApp {
    /// Its credentials for HTTP Basic authentication.
    pub fn basic(&self) -> (&str, &str) {
        (&self.client_id, &self.client_secret)
    }
}

pub fn confidential_app(server: &Server, email: &str, extra: &[&str]) -> ConfidentialApp {
    let mut args = vec![
        "app",
        "create",
        "--account",
        email,
        "--name",
        "Server app",
        "--redirect-uri",
        "https://app.example/cb",
    ];
    args.extend_from_slice(extra);
    let app = server.admin(&args);
    ConfidentialApp {
        client_id: app["client_id"].as_str().unwrap().to_owned(),
        client_secret: app["client_secret"].as_str().unwrap().to_owned(),
    }
}

/// A public app with a fixed client id and the default loopback redirect URI,
/// whose token requests need no DPoP proof: these tests are about the flows
/// (DPoP's are in `dpop.rs`).
pub fn public_app(server: &Server, email: &str, client_id: &str) -> String {
    let app = server.admin(&[
        "app",
        "create",
        "--account",
        email,
        "--name",
        "A CLI",
        "--public",
        "--client-id",
        client_id,
        "--dpop",
        "optional",
    ]);
    assert_eq!(app["client_id"], client_id);
    client_id.to_owned()
}

/// A PKCE pair: (verifier, S256 challenge).
pub fn pkce() -> (String, String) {
    let mut raw = [0u8; 32];
    aws_lc_rs::rand::fill(&mut raw).unwrap();
    let verifier = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw);
    let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(Sha256::digest(verifier.as_bytes()));
    (verifier, challenge)
}

pub fn query(client_id: &str, redirect_uri: &str, challenge: &str, state: &str) -> AuthorizeQuery {
    AuthorizeQuery {
        response_type: Some("code".into()),
        client_id: Some(client_id.into()),
        redirect_uri: Some(redirect_uri.into()),
        scope: None,
        state: Some(state.into()),
        code_challenge: Some(challenge.into()),
        code_challenge_method: Some("S256".into()),
    }
}

/// What the consent page does after the user approves: the redirect URL.
pub async fn authorize(domain: &AppState, q: &AuthorizeQuery, account_id: &str) -> url::Url {
    let validated = authorize::validate(domain, q)
        .await
        .unwrap_or_else(|e| panic!("authorization request rejected: {e}"));
    authorize::issue_code(
        domain,
        &validated,
        account_id,
        &validated.scope,
        domain.now(),
    )
    .await
    .expect("issue code")
}

pub fn param(url: &url::Url, name: &str) -> Option<String> {
    url.query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// POST a form to `path`, with optional Basic client credentials.
pub async fn post_form(
    server: &Server,
    path: &str,
    form: &[(&str, &str)],
    basic: Option<(&str, &str)>,
) -> (StatusCode, reqwest::header::HeaderMap, Value) {
    let mut req = server.http().post(server.endpoint(path)).form(form);
    if let Some((id, secret)) = basic {
        req = req.basic_auth(id, Some(secret));
    }
    let response = req.send().await.expect("request");
    let status = response.status();
    let headers = response.headers().clone();
    let text = response.text().await.expect("body");
    let body = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{status}: not JSON ({e}): {text}"))
    };
    (status, headers, body)
}

/// POST /oauth/token.
pub async fn token(
    server: &Server,
    form: &[(&str, &str)],
    basic: Option<(&str, &str)>,
) -> (StatusCode, Value) {
    let (status, _, body) = post_form(server, "/oauth/token", form, basic).await;
    (status, body)
}

/// Exchanges a code for tokens as the public client `client_id`.
pub async fn exchange(
    server: &Server,
    client_id: &str,
    code: &str,
    redirect_uri: &str,
    verifier: &str,
) -> (StatusCode, Value) {
    token(
        server,
        &[
            ("grant_type", "authorization_code"),
            ("client_id", client_id),
            ("code", code),
            ("redirect_uri", redirect_uri),
            ("code_verifier", verifier),
        ],
        None,
    )
    .await
}

/// A code for `client_id`, as the consent page issues it once the user approves,
/// and the PKCE verifier that redeems it.
pub async fn issued_code(
    domain: &AppState,
    client_id: &str,
    redirect: &str,
    account_id: &str,
) -> (String, String) {
    let (verifier, challenge) = pkce();
    let q = query(client_id, redirect, &challenge, "s1");
    let url = authorize(domain, &q, account_id).await;
    (param(&url, "code").expect("a code"), verifier)
}

/// A full code flow for a public client: the token response.
pub async fn code_flow(
    server: &Server,
    domain: &AppState,
    client_id: &str,
    account_id: &str,
) -> Value {
    let redirect = "http://127.0.0.1:49152/callback";
    let (code, verifier) = issued_code(domain, client_id, redirect, account_id).await;
    let (status, body) = exchange(server, client_id, &code, redirect, &verifier).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

/// The client_credentials grant with a `customer_key`, as `app` (Basic).
pub async fn customer_key_token(
    server: &Server,
    app: &ConfidentialApp,
    customer_key: &str,
) -> (StatusCode, Value) {
    let form = [
        ("grant_type", "client_credentials"),
        ("customer_key", customer_key),
    ];
    token(server, &form, Some(app.basic())).await
}

/// A token-URL login: a session made with `admin session create` for `email`,
/// exchanged at `/oauth/session-token`.
pub async fn session_token(server: &Server, email: &str) -> (StatusCode, Value) {
    let session = server.admin(&["session", "create", "--account", email]);
    let form = [("session_id", session["session_id"].as_str().unwrap())];
    let (status, _, body) = post_form(server, "/oauth/session-token", &form, None).await;
    (status, body)
}

/// GET /v1/me with a bearer token.
pub async fn me_response(server: &Server, access_token: &Value) -> reqwest::Response {
    let bearer = format!("Bearer {}", access_token.as_str().unwrap());
    server.get("/v1/me", Some(&bearer)).await
}

/// GET /v1/me with a bearer token: the status.
pub async fn me_status(server: &Server, access_token: &Value) -> StatusCode {
    me_response(server, access_token).await.status()
}

/// GET /v1/me with a bearer token: the body, after checking it is 200.
pub async fn me(server: &Server, access_token: &Value) -> Value {
    let response = me_response(server, access_token).await;
    assert_eq!(response.status(), StatusCode::OK);
    crate::support::json(response).await
}

/// Asserts an RFC 6749 §5.2 error body: `error` as expected, nothing but
/// `error` and `error_description` (and `interval` for slow_down).
pub fn assert_oauth_error(
    status: StatusCode,
    body: &Value,
    expected_status: StatusCode,
    error: &str,
) {
    assert_eq!(status, expected_status, "{body}");
    assert_eq!(body["error"], error, "{body}");
    for key in body.as_object().expect("object").keys() {
        assert!(
            matches!(key.as_str(), "error" | "error_description" | "interval"),
            "unexpected field {key} in {body}"
        );
    }
}
