//! DPoP (RFC 9449) against the real binary: tokens bound to the key of the
//! machine that got them, with proofs made by the client library
//! (`tessera_client::DpopKey`), for apps that require DPoP (`--dpop required`); the
//! browser's part (approving the device) is played through the domain API.

use crate::oauth_support::{ConfidentialApp, confidential_app, domain};
use crate::support::{Backend, Server};
use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use serde_json::Value;
use tessera_client::DpopKey;
use tessera_server::oauth::device;

backend_tests!(
    a_stolen_token_is_useless_without_the_key,
    proofs_are_single_use_and_for_one_request,
    refresh_with_another_key_is_invalid_grant,
    instances_share_replays_and_nonces,
    token_exchange_binds_and_a_dpop_app_needs_a_proof,
    a_key_bound_subject_token_is_exchanged_only_with_its_key,
);

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// POST /oauth/token as `base` (the issuer: what the proof names) at `server`.
async fn token_request(
    server: &Server,
    issuer: &str,
    form: &[(&str, &str)],
    key: &DpopKey,
) -> (StatusCode, HeaderMap, Value) {
    let url = format!("{issuer}/oauth/token");
    let proof = key.proof("POST", &url, None, now());
    let response = (server.http())
        .post(server.endpoint("/oauth/token"))
        .header("dpop", proof)
        .form(form)
        .send()
        .await
        .expect("token request");
    let (status, headers) = (response.status(), response.headers().clone());
    (status, headers, response.json().await.expect("JSON"))
}

/// A token request that follows the server's `use_dpop_nonce` once, as
/// clients do (RFC 9449 §8).
async fn token_with_nonce(
    server: &Server,
    issuer: &str,
    form: &[(&str, &str)],
    key: &DpopKey,
) -> (StatusCode, Value) {
    let (status, headers, body) = token_request(server, issuer, form, key).await;
    if status == StatusCode::BAD_REQUEST && body["error"] == "use_dpop_nonce" {
        let nonce = headers["dpop-nonce"].to_str().expect("a nonce");
        key.remember_nonce(issuer, nonce);
        let (status, _, body) = token_request(server, issuer, form, key).await;
        return (status, body);
    }
    (status, body)
}

/// A device login of the public app `cli` (DPoP required), approved
/// through the domain API: the token response, bound to `key`.
async fn device_login(server: &Server, issuer: &str, key: &DpopKey) -> Value {
    let demo = server.demo_account().await;
    let app = server.admin(&[
        "app",
        "create",
        "--account",
        &demo.email,
        "--name",
        "CLI",
        "--public",
        "--client-id",
        "cli",
        "--dpop",
        "required",
    ]);
    assert_eq!(app["dpop"], "required");
    let started: Value = (server.http())
        .post(server.endpoint("/oauth/device_authorization"))
        .form(&[("client_id", "cli")])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let domain = domain(server).await;
    let user_code = started["user_code"].as_str().unwrap();
    device::approve(&domain, user_code, &demo.account_id, domain.now())
        .await
        .expect("approve");
    let device_code = started["device_code"].as_str().unwrap();
    let poll = [
        ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
        ("client_id", "cli"),
        ("device_code", device_code),
    ];
    // Without a proof: the app requires one.
    let (status, _, body) =
        crate::oauth_support::post_form(server, "/oauth/token", &poll, None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "invalid_dpop_proof", "{body}");
    // With one: the default policy asks for a nonce first.
    let (status, headers, body) = token_request(server, issuer, &poll, key).await;
    assert_eq!(
        (status, &body["error"]),
        (StatusCode::BAD_REQUEST, &Value::from("use_dpop_nonce"))
    );
    assert!(headers.contains_key("dpop-nonce"));
    let (status, body) = token_with_nonce(server, issuer, &poll, key).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["token_type"], "DPoP");
    body
}

async fn get_me(
    server: &Server,
    token: &str,
    scheme: &str,
    proof: Option<String>,
) -> reqwest::Response {
    let mut request = (server.http())
        .get(server.endpoint("/v1/me"))
        .header("authorization", format!("{scheme} {token}"));
    if let Some(proof) = proof {
        request = request.header("dpop", proof);
    }
    request.send().await.expect("request")
}

/// 401 whose `WWW-Authenticate` is a DPoP challenge naming `error`.
fn assert_dpop_refusal(response: &reqwest::Response, error: &str) {
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let challenges: Vec<&str> = (response.headers().get_all("www-authenticate").iter())
        .map(|v| v.to_str().unwrap())
        .collect();
    assert!(
        challenges
            .iter()
            .any(|c| c.starts_with("DPoP ") && c.contains(&format!(r#"error="{error}""#))),
        "{challenges:?}"
    );
}

/// The token copied out of a credentials file or a log: refused as Bearer, as
/// DPoP without a proof, and with a proof of the thief's own key.
async fn a_stolen_token_is_useless_without_the_key(backend: Backend) {
    let server = Server::start(backend).await;
    let key = DpopKey::generate("ES256");
    let tokens = device_login(&server, &server.url, &key).await;
    let token = tokens["access_token"].as_str().unwrap();
    let me = format!("{}/v1/me", server.url);

    let owner = get_me(
        &server,
        token,
        "DPoP",
        Some(key.proof("GET", &me, Some(token), now())),
    )
    .await;
    assert_eq!(owner.status(), StatusCode::OK);

    assert_dpop_refusal(
        &get_me(&server, token, "Bearer", None).await,
        "invalid_token",
    );
    assert_dpop_refusal(
        &get_me(&server, token, "DPoP", None).await,
        "invalid_dpop_proof",
    );
    let thief = DpopKey::generate("EdDSA");
    let forged = thief.proof("GET", &me, Some(token), now());
    assert_dpop_refusal(
        &get_me(&server, token, "DPoP", Some(forged)).await,
        "invalid_dpop_proof",
    );
}

/// A proof is good for one request: the same again is a replay; one for
/// another URL or method does not count.
async fn proofs_are_single_use_and_for_one_request(backend: Backend) {
    let server = Server::start(backend).await;
    let key = DpopKey::generate("EdDSA");
    let tokens = device_login(&server, &server.url, &key).await;
    let token = tokens["access_token"].as_str().unwrap();
    let me = format!("{}/v1/me", server.url);

    let proof = key.proof("GET", &me, Some(token), now());
    assert_eq!(
        get_me(&server, token, "DPoP", Some(proof.clone()))
            .await
            .status(),
        StatusCode::OK
    );
    let replayed = get_me(&server, token, "DPoP", Some(proof)).await;
    assert_dpop_refusal(&replayed, "invalid_dpop_proof");
    let body: Value = replayed.json().await.unwrap();
    assert!(
        body["message"].as_str().unwrap().contains("already used"),
        "{body}"
    );

    let other_url = key.proof(
        "GET",
        &format!("{}/v1/projects", server.url),
        Some(token),
        now(),
    );
    assert_dpop_refusal(
        &get_me(&server, token, "DPoP", Some(other_url)).await,
        "invalid_dpop_proof",
    );
    let other_method = key.proof("POST", &me, Some(token), now());
    assert_dpop_refusal(
        &get_me(&server, token, "DPoP", Some(other_method)).await,
        "invalid_dpop_proof",
    );
    let other_token = key.proof("GET", &me, Some("another token"), now());
    assert_dpop_refusal(
        &get_me(&server, token, "DPoP", Some(other_token)).await,
        "invalid_dpop_proof",
    );
}

/// A public client's refresh token is bound to the key of its login.
async fn refresh_with_another_key_is_invalid_grant(backend: Backend) {
    let server = Server::start(backend).await;
    let key = DpopKey::generate("ES256");
    let tokens = device_login(&server, &server.url, &key).await;
    let refresh = [
        ("grant_type", "refresh_token"),
        ("client_id", "cli"),
        ("refresh_token", tokens["refresh_token"].as_str().unwrap()),
    ];
    let (status, body) =
        token_with_nonce(&server, &server.url, &refresh, &DpopKey::generate("ES256")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "invalid_grant", "{body}");
    let (status, body) = crate::oauth_support::token(&server, &refresh, None).await;
    assert_eq!(
        (status, &body["error"]),
        (StatusCode::BAD_REQUEST, &Value::from("invalid_dpop_proof"))
    );

    let (status, body) = token_with_nonce(&server, &server.url, &refresh, &key).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["token_type"], "DPoP");
}

/// Two instances behind one issuer: a nonce from one is good at the other, and
/// a proof used at one is a replay at the other.
async fn instances_share_replays_and_nonces(backend: Backend) {
    const ISSUER: &str = "http://tessera.example";
    let a = Server::start_with(backend, &["--issuer", ISSUER]).await;
    let b = a.second_instance(&["--issuer", ISSUER]);
    let key = DpopKey::generate("ES256");
    // The login's nonce came from `a`; `b` accepts it for the refresh.
    let tokens = device_login(&a, ISSUER, &key).await;
    let refresh = [
        ("grant_type", "refresh_token"),
        ("client_id", "cli"),
        ("refresh_token", tokens["refresh_token"].as_str().unwrap()),
    ];
    let (status, _, body) = token_request(&b, ISSUER, &refresh, &key).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let token = body["access_token"].as_str().unwrap();

    let proof = key.proof("GET", &format!("{ISSUER}/v1/me"), Some(token), now());
    assert_eq!(
        get_me(&a, token, "DPoP", Some(proof.clone()))
            .await
            .status(),
        StatusCode::OK
    );
    assert_dpop_refusal(
        &get_me(&b, token, "DPoP", Some(proof)).await,
        "invalid_dpop_proof",
    );
}

/// A workload's token exchange is bound to its key like any other grant, and
/// an app that requires DPoP gets no exchanged Bearer token. The proof is
/// checked before the subject token is used, so the refused request and the
/// nonce round trip leave it good for the request that follows.
/// Two servers: A issues, B trusts A's tokens meant for B, of A's app
/// `issuing`, for B's public app `client_id` (`app_flags` added at its
/// creation).
async fn a_trusted_by_b(
    backend: Backend,
    app_flags: &[&str],
) -> (Server, Server, ConfidentialApp, String) {
    let a = Server::start(backend).await;
    let b = Server::start(backend).await;
    a.admin(&["account", "create", "--email", "issuer@example.com"]);
    let issuing = confidential_app(&a, "issuer@example.com", &[]);
    b.admin(&["account", "create", "--email", "ci@example.com"]);
    let mut args = vec![
        "app",
        "create",
        "--account",
        "ci@example.com",
        "--name",
        "ci",
        "--public",
    ];
    args.extend_from_slice(app_flags);
    let app = b.admin(&args);
    let client_id = app["client_id"].as_str().unwrap().to_owned();
    let only_issuing = format!("client_id={}", issuing.client_id);
    b.admin(&[
        "trust",
        "add",
        "--app",
        &client_id,
        "--issuer",
        &a.url,
        "--audience",
        &b.url,
        "--claim",
        &only_issuing,
    ]);
    (a, b, issuing, client_id)
}

async fn token_exchange_binds_and_a_dpop_app_needs_a_proof(backend: Backend) {
    let (a, b, issuing, client_id) = a_trusted_by_b(backend, &["--dpop", "required"]).await;
    let client_id = client_id.as_str();
    let subject: Value = (a.http())
        .post(a.endpoint("/oauth/token"))
        .basic_auth(&issuing.client_id, Some(&issuing.client_secret))
        .form(&[("grant_type", "client_credentials"), ("resource", &b.url)])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let form = [
        (
            "grant_type",
            "urn:ietf:params:oauth:grant-type:token-exchange",
        ),
        ("client_id", client_id),
        ("subject_token", subject["access_token"].as_str().unwrap()),
        ("subject_token_type", "urn:ietf:params:oauth:token-type:jwt"),
    ];

    let unproven = (b.http())
        .post(b.endpoint("/oauth/token"))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(unproven.status(), StatusCode::BAD_REQUEST);
    let body: Value = unproven.json().await.unwrap();
    assert_eq!(body["error"], "invalid_dpop_proof", "{body}");

    let key = DpopKey::generate("EdDSA");
    let (status, body) = token_with_nonce(&b, &b.url, &form, &key).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["token_type"], "DPoP");
    let token = body["access_token"].as_str().unwrap();
    let me = format!("{}/v1/me", b.url);
    let proof = key.proof("GET", &me, Some(token), now());
    let owner = get_me(&b, token, "DPoP", Some(proof)).await;
    assert_eq!(owner.status(), StatusCode::OK);
    assert_dpop_refusal(&get_me(&b, token, "Bearer", None).await, "invalid_token");
}

/// A DPoP-bound token of A (`cnf.jkt`) copied out of a log is worthless
/// alone, and stays so at B, which trusts A: B exchanges it only for a request
/// that proves the same key, and binds what it issues to that key.
async fn a_key_bound_subject_token_is_exchanged_only_with_its_key(backend: Backend) {
    let (a, b, issuing, client_id) = a_trusted_by_b(backend, &[]).await;
    let client_id = client_id.as_str();
    let key = DpopKey::generate("EdDSA");
    let (status, subject) = token_with_nonce(
        &a,
        &a.url,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", &issuing.client_id),
            ("client_secret", &issuing.client_secret),
            ("resource", &b.url),
        ],
        &key,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{subject}");
    assert_eq!(subject["token_type"], "DPoP", "{subject}");
    let form = [
        (
            "grant_type",
            "urn:ietf:params:oauth:grant-type:token-exchange",
        ),
        ("client_id", client_id),
        ("subject_token", subject["access_token"].as_str().unwrap()),
        ("subject_token_type", "urn:ietf:params:oauth:token-type:jwt"),
    ];

    let stolen: Value = (b.http())
        .post(b.endpoint("/oauth/token"))
        .form(&form)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(stolen["error"], "invalid_request", "{stolen}");
    let why = stolen["error_description"].as_str().unwrap();
    assert!(why.contains("cnf.jkt"), "{why}");
    let (_, other_key) = token_with_nonce(&b, &b.url, &form, &DpopKey::generate("EdDSA")).await;
    assert_eq!(other_key["error"], "invalid_request", "{other_key}");

    let (status, body) = token_with_nonce(&b, &b.url, &form, &key).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["token_type"], "DPoP", "{body}");
    let token = body["access_token"].as_str().unwrap();
    let me = format!("{}/v1/me", b.url);
    let proof = key.proof("GET", &me, Some(token), now());
    assert_eq!(
        get_me(&b, token, "DPoP", Some(proof)).await.status(),
        StatusCode::OK
    );
}
