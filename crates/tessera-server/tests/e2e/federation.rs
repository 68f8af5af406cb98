//! Workload identity federation against real issuers: npm oidc-provider
//! signing JWTs with RS256, ES256 and EdDSA (and PS256, which is refused), and
//! a second tesserad whose access tokens a first one trusts. Every refusal the
//! issue names, by name: wrong audience, wrong issuer, expired, replayed, `alg`
//! not allowed, claim rule not matched, unknown `kid` after a JWKS refresh,
//! issuer unreachable.

use crate::oauth_support::{
    ConfidentialApp, assert_oauth_error, confidential_app, me, me_status, post_form, token,
};
use crate::support::{Backend, Server, json};
use reqwest::StatusCode;
use serde_json::Value;
use tessera_testkit::OidcProvider;

backend_tests!(
    oidc_provider_tokens_are_exchanged,
    refusals_against_a_real_issuer,
    tesserad_trusts_another_tesserad,
    admin_trust_explains_bad_rules,
);

const AUDIENCE: &str = "https://tessera.test/ci";
const GRANT: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
const JWT: &str = "urn:ietf:params:oauth:token-type:jwt";

/// An account with a confidential app: its email and the app.
fn account_app(server: &Server) -> (String, ConfidentialApp) {
    let email = format!("ci-{}@example.com", uuid::Uuid::new_v4().simple());
    server.admin(&["account", "create", "--email", &email]);
    let app = confidential_app(server, &email, &[]);
    (email, app)
}

/// An account with an app: its email and the app's client id.
fn app(server: &Server) -> (String, String) {
    let (email, app) = account_app(server);
    (email, app.client_id)
}

/// `admin trust add` for the app; the rule as JSON.
fn trust(server: &Server, client_id: &str, issuer: &str, extra: &[&str]) -> Value {
    let mut args = vec![
        "trust",
        "add",
        "--app",
        client_id,
        "--issuer",
        issuer,
        "--audience",
        AUDIENCE,
    ];
    args.extend_from_slice(extra);
    server.admin(&args)
}

/// A token exchange at `server` as `client_id`, without a client secret.
async fn exchange(server: &Server, client_id: &str, subject_token: &str) -> (StatusCode, Value) {
    let form = [
        ("grant_type", GRANT),
        ("client_id", client_id),
        ("subject_token", subject_token),
        ("subject_token_type", JWT),
    ];
    token(server, &form, None).await
}

/// The exchange is refused with `invalid_request` (RFC 8693 §2.2.2); its
/// description.
async fn refused(server: &Server, client_id: &str, subject_token: &str) -> String {
    let (status, body) = exchange(server, client_id, subject_token).await;
    assert_oauth_error(status, &body, StatusCode::BAD_REQUEST, "invalid_request");
    body["error_description"].as_str().unwrap().to_owned()
}

async fn oidc_provider_tokens_are_exchanged(backend: Backend) {
    let Some(issuer) = OidcProvider::issuer() else {
        return;
    };
    let server = Server::start(backend).await;
    let (email, client_id) = app(&server);
    let rule = trust(
        &server,
        &client_id,
        &issuer.url,
        &["--subject", "ci-*", "--claim", "repository=acme/widgets"],
    );
    assert_eq!(rule["scope"], "THIRD_PARTY_OPERATION");
    let listed = server.admin(&["trust", "list", "--app", &client_id]);
    assert_eq!(listed[0]["id"], rule["id"]);
    assert_eq!(listed[0]["claims"]["repository"], "acme/widgets");

    for client in ["ci-rs256", "ci-es256", "ci-eddsa"] {
        let (status, body) = exchange(&server, &client_id, &issuer.token(client, AUDIENCE)).await;
        assert_eq!(status, StatusCode::OK, "{client}: {body}");
        assert_eq!(
            body["issued_token_type"],
            "urn:ietf:params:oauth:token-type:access_token"
        );
        assert!(body.get("refresh_token").is_none());
        let me = me(&server, &body["access_token"]).await;
        assert_eq!(me["email"], email.as_str(), "the app's account");
    }
    let doc = json(
        server
            .get("/.well-known/oauth-authorization-server", None)
            .await,
    )
    .await;
    assert!(
        doc["grant_types_supported"]
            .as_array()
            .unwrap()
            .iter()
            .any(|g| g == GRANT),
        "{doc}"
    );
    let metrics = server.get("/metrics", None).await.text().await.unwrap();
    assert!(
        metrics.contains(r#"tesserad_tokens_issued_total{grant="token_exchange"} 3"#),
        "{metrics}"
    );
    // Removing the rule stops the exchange.
    server.admin(&["trust", "remove", rule["id"].as_str().unwrap()]);
    let why = refused(&server, &client_id, &issuer.token("ci-eddsa", AUDIENCE)).await;
    assert!(why.contains("trusts no issuer"), "{why}");
}

async fn refusals_against_a_real_issuer(backend: Backend) {
    let Some(mut issuer) = OidcProvider::issuer() else {
        return;
    };
    let server = Server::start(backend).await;
    let (_, client_id) = app(&server);
    trust(&server, &client_id, &issuer.url, &["--subject", "ci-*"]);
    let ok = |status: StatusCode, body: &Value| assert_eq!(status, StatusCode::OK, "{body}");

    // Wrong audience: a token the issuer made for another relying party.
    let other = issuer.token("ci-eddsa", "https://elsewhere.test");
    let why = refused(&server, &client_id, &other).await;
    assert!(why.contains("audience"), "wrong audience: {why}");

    // Replayed.
    let once = issuer.token("ci-eddsa", AUDIENCE);
    let (status, body) = exchange(&server, &client_id, &once).await;
    ok(status, &body);
    let why = refused(&server, &client_id, &once).await;
    assert!(why.contains("already been exchanged"), "replayed: {why}");

    // `alg` not allowed: PS256, signed by the issuer with a key in its JWKS.
    let why = refused(&server, &client_id, &issuer.token("ci-ps256", AUDIENCE)).await;
    assert!(why.contains("'PS256' is not accepted"), "alg: {why}");

    // Claim rule not matched: another app trusts the issuer only for acme/other.
    let (_, strict_app) = app(&server);
    trust(
        &server,
        &strict_app,
        &issuer.url,
        &["--claim", "repository=acme/other"],
    );
    let why = refused(&server, &strict_app, &issuer.token("ci-eddsa", AUDIENCE)).await;
    assert!(why.contains("repository ('acme/widgets')"), "claims: {why}");

    // Wrong issuer: a token of an issuer the app does not trust.
    let Some(stranger) = OidcProvider::issuer() else {
        return;
    };
    let why = refused(&server, &client_id, &stranger.token("ci-eddsa", AUDIENCE)).await;
    assert!(why.contains("trusts no issuer"), "wrong issuer: {why}");

    // Expired: an issuer whose clock is two hours behind issues tokens that
    // expired (ten minutes after issue) long ago.
    let Some(late) = OidcProvider::start("issuer.mjs", &[("CLOCK_OFFSET_SECS", "-7200")]) else {
        return;
    };
    trust(&server, &client_id, &late.url, &["--subject", "ci-*"]);
    let why = refused(&server, &client_id, &late.token("ci-eddsa", AUDIENCE)).await;
    assert!(why.contains("expired at"), "expired: {why}");

    // Unknown kid after a JWKS refresh: the issuer restarts with new keys. A
    // token of the new keys makes the server fetch them; a token of the old
    // ones is then refused although the JWKS was just fetched again.
    let old = issuer.token("ci-eddsa", AUDIENCE);
    issuer.restart();
    let (status, body) = exchange(&server, &client_id, &issuer.token("ci-es256", AUDIENCE)).await;
    ok(status, &body);
    let why = refused(&server, &client_id, &old).await;
    assert!(
        why.contains("not in its issuer's JWKS"),
        "unknown kid: {why}"
    );

    // Issuer unreachable: a clear answer at once, never a hang.
    let Some(mut gone) = OidcProvider::issuer() else {
        return;
    };
    let (_, gone_app) = app(&server);
    trust(&server, &gone_app, &gone.url, &["--subject", "ci-*"]);
    let orphan = gone.token("ci-eddsa", AUDIENCE);
    gone.stop();
    let (status, body) = exchange(&server, &gone_app, &orphan).await;
    assert_oauth_error(
        status,
        &body,
        StatusCode::SERVICE_UNAVAILABLE,
        "temporarily_unavailable",
    );
    let why = body["error_description"].as_str().unwrap();
    assert!(
        why.contains(&gone.url) && why.contains("cannot connect"),
        "unreachable: {why}"
    );
}

/// A client_credentials token of `server`, for `resource` (RFC 8707) if given.
async fn client_credentials(
    server: &Server,
    resource: Option<&str>,
    client: (&str, &str),
) -> (StatusCode, Value) {
    let mut form = vec![("grant_type", "client_credentials")];
    form.extend(resource.map(|r| ("resource", r)));
    token(server, &form, Some(client)).await
}

async fn tesserad_trusts_another_tesserad(backend: Backend) {
    // A issues; B trusts A's access tokens meant for B, of one app of A.
    let a = Server::start(backend).await;
    let b = Server::start(backend).await;
    let (_, a_secret) = account_app(&a);
    let (b_email, b_app) = app(&b);
    let rule = b.admin(&[
        "trust",
        "add",
        "--app",
        &b_app,
        "--issuer",
        &a.url,
        "--audience",
        &b.url,
        "--claim",
        &format!("client_id={}", a_secret.client_id),
    ]);
    assert_eq!(rule["issuer"], a.url.as_str());
    let creds = (a_secret.client_id.as_str(), a_secret.client_secret.as_str());

    // RFC 8707: A's token for B carries aud = B, which A's own API refuses.
    let (status, for_b) = client_credentials(&a, Some(&b.url), creds).await;
    assert_eq!(status, StatusCode::OK, "{for_b}");
    assert_eq!(
        me_status(&a, &for_b["access_token"]).await,
        StatusCode::UNAUTHORIZED,
        "a token for B is not A's"
    );
    let token_text = for_b["access_token"].as_str().unwrap();
    let (status, body) = exchange(&b, &b_app, token_text).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        me(&b, &body["access_token"]).await["email"],
        b_email.as_str()
    );
    // The exchange needed no client secret, so neither does giving the
    // token up: a keyless workload can log out (RFC 7009).
    let exchanged = body["access_token"].as_str().unwrap();
    let form = [("token", exchanged), ("client_id", b_app.as_str())];
    let (status, _, _) = post_form(&b, "/oauth/revoke", &form, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        me_status(&b, &body["access_token"]).await,
        StatusCode::UNAUTHORIZED
    );

    // A token of A for A itself (aud = A's issuer, RFC 9068 §3's default
    // resource): wrong audience at B.
    let (_, for_a) = client_credentials(&a, None, creds).await;
    assert_eq!(claims(&for_a["access_token"])["aud"], a.url.as_str());
    assert_eq!(claims(&for_b["access_token"])["aud"], b.url.as_str());
    let why = refused(&b, &b_app, for_a["access_token"].as_str().unwrap()).await;
    assert!(why.contains("audience"), "{why}");
    // A token of another app of A: the claim rule on client_id.
    let (_, other) = account_app(&a);
    let (_, other_token) =
        client_credentials(&a, Some(&b.url), (&other.client_id, &other.client_secret)).await;
    let why = refused(&b, &b_app, other_token["access_token"].as_str().unwrap()).await;
    assert!(why.contains("client_id"), "{why}");
    // A resource that is not an absolute URI.
    let (status, body) = client_credentials(&a, Some("not a uri"), creds).await;
    assert_oauth_error(status, &body, StatusCode::BAD_REQUEST, "invalid_target");
}

/// The payload of a JWS, unverified.
fn claims(token: &Value) -> Value {
    use base64::Engine as _;
    let payload = token.as_str().unwrap().split('.').nth(1).unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

async fn admin_trust_explains_bad_rules(backend: Backend) {
    let server = Server::start(backend).await;
    let (_, client_id) = app(&server);
    let add = |extra: &[&str]| {
        let mut args = vec!["trust", "add", "--app", &client_id, "--audience", AUDIENCE];
        args.extend_from_slice(extra);
        server.admin_output(&args)
    };
    let cases: [(&[&str], i32, &str); 5] = [
        (
            &["--issuer", "http://ci.example.com", "--subject", "x"],
            2,
            "must use https",
        ),
        (
            &["--issuer", "https://ci.example.com"],
            2,
            "would trust every workload",
        ),
        (
            &[
                "--issuer",
                "https://ci.example.com",
                "--claim",
                "repository",
            ],
            2,
            "NAME=GLOB",
        ),
        (
            &["--issuer", "https://ci.example.com", "--claim", "exp=1"],
            2,
            "checked by the exchange itself",
        ),
        (
            &[
                "--issuer",
                "https://ci.example.com",
                "--subject",
                "x",
                "--scope",
                "admin",
            ],
            2,
            "unknown scope",
        ),
    ];
    for (extra, code, says) in cases {
        let out = add(extra);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(code), "{extra:?}: {stderr}");
        assert!(stderr.contains(says), "{extra:?}: {stderr}");
    }
    assert!(
        server
            .admin(&["trust", "list"])
            .as_array()
            .unwrap()
            .is_empty()
    );
    let out = server.admin_output(&["trust", "remove", "trust_nope"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no trust rule trust_nope"));

    // A good rule: the text says where to exchange, at this server, though
    // `--issuer` here names the trusted one (the global flag's name too).
    let out = server
        .admin_command()
        .args(["trust", "add", "--app", &client_id, "--audience", AUDIENCE])
        .args(["--issuer", "https://ci.example.com", "--subject", "repo:*"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains(&format!("Exchange a token at {}/oauth/token", server.url)),
        "{text}"
    );
}
