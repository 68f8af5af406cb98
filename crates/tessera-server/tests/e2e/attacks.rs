//! The attacks the authorization server defends against: one test per attack,
//! named after it, each citing the section of RFC 9700 (OAuth 2.0 Security BCP)
//! or of the RFC it comes from. `docs/SECURITY.md` is the same list with the
//! defences. Every test runs against the real binary on SQLite and PostgreSQL;
//! the browser's part is played over HTTP (`browser.rs`) or through the domain API
//! on the server's database (`oauth_support.rs`). Attacks on the edges (slow
//! clients, password spraying, one-time-code and user-code brute force, oversized
//! inputs) are in `attacks_edge.rs`.

use crate::browser::{PASSWORD, account_with_password};
use crate::oauth_support::*;
use crate::support::{Backend, Server, json};
use reqwest::StatusCode;
use serde_json::Value;
use tessera_server::Error;
use tessera_server::oauth::authorize;
use tessera_testkit::Browser;

backend_tests!(
    pkce_downgrade,
    confidential_code_flow_without_pkce,
    code_replay,
    code_replay_racing_the_first_redemption,
    redirect_uri_manipulation,
    open_redirect,
    refresh_token_replay,
    refresh_token_race,
    token_substitution,
    mix_up,
    csrf,
    clickjacking,
    xss_in_app_names,
    session_fixation,
    third_party_app_minting_api_keys,
    token_outliving_its_api_key,
    access_token_outliving_its_family,
    refresh_token_beyond_its_absolute_lifetime,
);

/// RFC 9700 §4.8 (PKCE downgrade). A request without a challenge, with `plain`,
/// or with no method (which means plain) never reaches sign-in; a code bound to a
/// challenge cannot be redeemed without the verifier or with another one, and
/// either attempt burns it.
async fn pkce_downgrade(backend: Backend) {
    let (server, domain, demo, cli) = setup(backend).await;
    let (_, challenge) = pkce();
    let redirect = "http://127.0.0.1:50000/callback";
    let mut downgraded = Vec::new();
    let mut q = query(&cli, redirect, &challenge, "st");
    q.code_challenge = None;
    q.code_challenge_method = None;
    downgraded.push(q);
    let mut q = query(&cli, redirect, &challenge, "st");
    q.code_challenge_method = Some("plain".into());
    downgraded.push(q);
    let mut q = query(&cli, redirect, &challenge, "st");
    q.code_challenge_method = None;
    downgraded.push(q);
    let mut q = query(&cli, redirect, "too-short", "st");
    q.code_challenge_method = Some("S256".into());
    downgraded.push(q);
    for q in downgraded {
        match authorize::validate(&domain, &q).await {
            Err(Error::RedirectToClient(back)) => {
                let url = back.url().unwrap();
                assert!(url.as_str().starts_with(redirect), "{url}");
                assert_eq!(param(&url, "error").as_deref(), Some("invalid_request"));
                assert_eq!(param(&url, "state").as_deref(), Some("st"));
            }
            other => panic!("expected a redirect with an error, got {other:?}"),
        }
    }

    let (code, verifier) = issued_code(&domain, &cli, redirect, &demo.account_id).await;
    let (status, body) = token(
        &server,
        &[
            ("grant_type", "authorization_code"),
            ("client_id", &cli),
            ("code", &code),
            ("redirect_uri", redirect),
        ],
        None,
    )
    .await;
    assert_oauth_error(status, &body, StatusCode::BAD_REQUEST, "invalid_grant");
    // The right verifier now fails too: the first attempt consumed the code.
    let (status, body) = exchange(&server, &cli, &code, redirect, &verifier).await;
    assert_oauth_error(status, &body, StatusCode::BAD_REQUEST, "invalid_grant");

    // A wrong verifier also consumes a fresh code.
    let (code, verifier) = issued_code(&domain, &cli, redirect, &demo.account_id).await;
    let (other_verifier, _) = pkce();
    let (status, body) = exchange(&server, &cli, &code, redirect, &other_verifier).await;
    assert_oauth_error(status, &body, StatusCode::BAD_REQUEST, "invalid_grant");
    let (status, _) = exchange(&server, &cli, &code, redirect, &verifier).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

/// A confidential client may use the authorization code grant without PKCE
/// (the Lofty API's web apps): the code is redeemed with its secret. A
/// verifier for a code issued without a challenge is refused (RFC 9700
/// §4.8.2: the downgrade an attacker who stripped the challenge would try),
/// and that attempt burns the code.
async fn confidential_code_flow_without_pkce(backend: Backend) {
    let (server, domain, demo, _cli) = setup(backend).await;
    let app = confidential_app(&server, &demo.email, &[]);
    let redirect = "https://app.example/cb";
    let without_pkce = |state: &str| {
        let mut q = query(&app.client_id, redirect, "", state);
        q.code_challenge = None;
        q.code_challenge_method = None;
        q
    };
    let code = |url: url::Url| param(&url, "code").expect("a code");
    let redeem = |code: String, verifier: Option<String>| {
        let basic = Some(app.basic());
        let server = &server;
        async move {
            let mut form = vec![
                ("grant_type", "authorization_code".to_owned()),
                ("code", code),
                ("redirect_uri", redirect.to_owned()),
            ];
            form.extend(verifier.map(|v| ("code_verifier", v)));
            let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
            token(server, &form, basic).await
        }
    };

    let first = code(authorize(&domain, &without_pkce("s1"), &demo.account_id).await);
    let (status, body) = redeem(first, None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body["access_token"].is_string());

    let second = code(authorize(&domain, &without_pkce("s2"), &demo.account_id).await);
    let (forged, _) = pkce();
    let (status, body) = redeem(second.clone(), Some(forged)).await;
    assert_oauth_error(status, &body, StatusCode::BAD_REQUEST, "invalid_grant");
    let (status, body) = redeem(second, None).await;
    assert_oauth_error(status, &body, StatusCode::BAD_REQUEST, "invalid_grant");

    // `plain` stays refused, and a method without a challenge is malformed.
    let mut plain = query(&app.client_id, redirect, "a-plain-challenge", "s3");
    plain.code_challenge_method = Some("plain".into());
    let mut method_only = without_pkce("s4");
    method_only.code_challenge_method = Some("S256".into());
    for q in [plain, method_only] {
        match authorize::validate(&domain, &q).await {
            Err(Error::RedirectToClient(back)) => {
                let url = back.url().unwrap();
                assert_eq!(param(&url, "error").as_deref(), Some("invalid_request"));
            }
            other => panic!("expected a redirect with an error, got {other:?}"),
        }
    }
}

/// RFC 9700 §4.5, RFC 6749 §4.1.2 (code replay). Redeeming a code twice fails and
/// revokes what the first redemption issued: access and refresh token.
async fn code_replay(backend: Backend) {
    let (server, domain, demo, cli) = setup(backend).await;
    let redirect = "http://127.0.0.1:50002/callback";
    let (code, verifier) = issued_code(&domain, &cli, redirect, &demo.account_id).await;
    let (status, tokens) = exchange(&server, &cli, &code, redirect, &verifier).await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    assert_eq!(
        me_status(&server, &tokens["access_token"]).await,
        StatusCode::OK
    );

    let (status, body) = exchange(&server, &cli, &code, redirect, &verifier).await;
    assert_oauth_error(status, &body, StatusCode::BAD_REQUEST, "invalid_grant");
    assert_eq!(
        me_status(&server, &tokens["access_token"]).await,
        StatusCode::UNAUTHORIZED
    );
    let (status, body) = refresh(&server, &cli, &tokens["refresh_token"]).await;
    assert_oauth_error(status, &body, StatusCode::BAD_REQUEST, "invalid_grant");
}

/// RFC 9700 §4.5, RFC 6749 §4.1.2 (code replay, raced). Several redemptions of
/// one code at once: exactly one gets tokens, and whichever way the race went,
/// the replay revokes them, so none slips through.
async fn code_replay_racing_the_first_redemption(backend: Backend) {
    let (server, domain, demo, cli) = setup(backend).await;
    let redirect = "http://127.0.0.1:50005/callback";
    for round in 0..3 {
        let (code, verifier) = issued_code(&domain, &cli, redirect, &demo.account_id).await;
        let redeem = || exchange(&server, &cli, &code, redirect, &verifier);
        let (r1, r2, r3, r4) = tokio::join!(redeem(), redeem(), redeem(), redeem());
        let tokens = the_one_winner(vec![r1, r2, r3, r4]);
        assert_eq!(
            me_status(&server, &tokens["access_token"]).await,
            StatusCode::UNAUTHORIZED,
            "round {round}: the winner's access token died with the replay"
        );
        let (status, body) = refresh(&server, &cli, &tokens["refresh_token"]).await;
        assert_oauth_error(status, &body, StatusCode::BAD_REQUEST, "invalid_grant");
    }
}

/// RFC 9700 §4.1 (insufficient redirect URI validation). Only registered
/// redirect URIs, matched exactly (a loopback one may change only its port), and
/// the token request must repeat the exact redirect URI.
async fn redirect_uri_manipulation(backend: Backend) {
    let (server, domain, demo, cli) = setup(backend).await;
    let (verifier, challenge) = pkce();
    for evil in [
        "https://evil.example/callback",
        "http://127.0.0.1.evil.example/callback",
        "http://127.0.0.1:5000/callback/../../evil",
        "http://127.0.0.1:5000/callback?next=https://evil.example",
        "http://127.0.0.1:5000/callbackX",
        "https://127.0.0.1:5000/callback",
        "http://localhost.evil.example:5000/callback",
        "http://user@127.0.0.1:5000/callback",
        "//evil.example/callback",
        "",
    ] {
        // A bad response_type too: the untrusted redirect URI must win.
        let mut q = query(&cli, evil, &challenge, "st");
        q.response_type = Some("token".into());
        match authorize::validate(&domain, &q).await {
            Err(Error::UntrustedAuthorizationRequest { .. }) => {}
            other => panic!("{evil}: expected an error page, got {other:?}"),
        }
    }
    let redirect = "http://127.0.0.1:61234/callback";
    let url = authorize(
        &domain,
        &query(&cli, redirect, &challenge, "st"),
        &demo.account_id,
    )
    .await;
    assert!(url.as_str().starts_with(redirect));
    let code = param(&url, "code").unwrap();
    let (status, body) = exchange(
        &server,
        &cli,
        &code,
        "http://127.0.0.1:61235/callback",
        &verifier,
    )
    .await;
    assert_oauth_error(status, &body, StatusCode::BAD_REQUEST, "invalid_grant");
}

/// RFC 9700 §4.11.2 (the authorization server as open redirector). A request
/// whose client or redirect URI cannot be trusted gets an error page, never a
/// redirect; sign-in's `next` only ever leads to a page of this server.
async fn open_redirect(backend: Backend) {
    let (server, _domain, _demo, cli) = setup(backend).await;
    let (_, challenge) = pkce();
    let browser = Browser::new(&server.url);
    for (client, redirect) in [
        ("no-such-client", "https://evil.example/cb"),
        (cli.as_str(), "https://evil.example/cb"),
        (cli.as_str(), "//evil.example/cb"),
    ] {
        let path = authorize_path(client, redirect, &challenge, None);
        let page = browser.get(&path);
        assert_eq!(page.status, StatusCode::BAD_REQUEST, "{path}");
        assert_eq!(page.location, None, "{path}");
        assert!(
            page.html.contains("This sign-in link is not valid"),
            "{path}"
        );
    }

    account_with_password(&server, "victim@example.com");
    for next in [
        "https://evil.example/",
        "//evil.example/",
        "/\\evil.example/",
        "evil.example",
    ] {
        let victim = Browser::new(&server.url);
        let page = victim.sign_in_with_password("victim@example.com", PASSWORD, next);
        assert_eq!(page.status, StatusCode::SEE_OTHER, "{next}");
        assert_eq!(page.location.as_deref(), Some("/"), "{next}");
    }
}

/// RFC 9700 §4.14.2 (refresh token replay). A rotated refresh token presented
/// again revokes its whole family: every refresh token and access token of that
/// login.
async fn refresh_token_replay(backend: Backend) {
    let (server, domain, demo, cli) = setup(backend).await;
    let first = code_flow(&server, &domain, &cli, &demo.account_id).await;
    let (status, second) = refresh(&server, &cli, &first["refresh_token"]).await;
    assert_eq!(status, StatusCode::OK, "{second}");
    assert_ne!(first["refresh_token"], second["refresh_token"], "rotated");
    assert_eq!(
        me_status(&server, &second["access_token"]).await,
        StatusCode::OK
    );

    let (status, body) = refresh(&server, &cli, &first["refresh_token"]).await;
    assert_oauth_error(status, &body, StatusCode::BAD_REQUEST, "invalid_grant");
    let (status, body) = refresh(&server, &cli, &second["refresh_token"]).await;
    assert_oauth_error(status, &body, StatusCode::BAD_REQUEST, "invalid_grant");
    for access in [&first["access_token"], &second["access_token"]] {
        assert_eq!(me_status(&server, access).await, StatusCode::UNAUTHORIZED);
    }
}

/// RFC 9700 §4.14.2 (refresh token replay, raced). Two uses of one refresh token
/// at once: rotation is a compare-and-set, so exactly one gets new tokens, and the
/// other counts as a replay, which ends the family, the winner's new tokens too.
async fn refresh_token_race(backend: Backend) {
    let (server, domain, demo, cli) = setup(backend).await;
    let tokens = code_flow(&server, &domain, &cli, &demo.account_id).await;
    let use_it = || refresh(&server, &cli, &tokens["refresh_token"]);
    let (r1, r2, r3) = tokio::join!(use_it(), use_it(), use_it());
    let winner = the_one_winner(vec![r1, r2, r3]);
    let (status, body) = refresh(&server, &cli, &winner["refresh_token"]).await;
    assert_oauth_error(status, &body, StatusCode::BAD_REQUEST, "invalid_grant");
    assert_eq!(
        me_status(&server, &winner["access_token"]).await,
        StatusCode::UNAUTHORIZED
    );
}

/// RFC 9700 §4.5 and §4.6 (code and token injection), seen from the server: a
/// code, refresh token or access token issued to one client is useless to another
/// (and a code is burnt by the attempt), and no kind of token is accepted as
/// another (access token as API key or `customer_key`, API key as bearer token or
/// refresh token, refresh token as bearer token).
async fn token_substitution(backend: Backend) {
    let (server, domain, demo, cli) = setup(backend).await;
    let other = public_app(&server, &demo.email, "llamactl");
    let redirect = "http://127.0.0.1:50003/callback";
    let (code, verifier) = issued_code(&domain, &cli, redirect, &demo.account_id).await;
    let (status, body) = exchange(&server, &other, &code, redirect, &verifier).await;
    assert_oauth_error(status, &body, StatusCode::BAD_REQUEST, "invalid_grant");
    // A confidential client with its valid secret fares no better.
    let app = confidential_app(&server, &demo.email, &[]);
    let basic = Some(app.basic());
    let (status, body) = token(
        &server,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", redirect),
            ("code_verifier", &verifier),
        ],
        basic,
    )
    .await;
    assert_oauth_error(status, &body, StatusCode::BAD_REQUEST, "invalid_grant");
    let (status, _) = exchange(&server, &cli, &code, redirect, &verifier).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "the code was burnt");

    let tokens = code_flow(&server, &domain, &cli, &demo.account_id).await;
    let (access, refresh_token) = (
        tokens["access_token"].as_str().unwrap(),
        tokens["refresh_token"].as_str().unwrap(),
    );
    let (status, body) = refresh(&server, &other, &tokens["refresh_token"]).await;
    assert_oauth_error(status, &body, StatusCode::BAD_REQUEST, "invalid_grant");
    // Another client cannot revoke the token either (RFC 7009 §2.1): it still works.
    let (status, _, _) = post_form(&server, "/oauth/revoke", &[("token", access)], basic).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        me_status(&server, &tokens["access_token"]).await,
        StatusCode::OK
    );

    for authorization in [
        format!("token {access}"),
        format!("Bearer {}", demo.key),
        format!("Bearer {refresh_token}"),
        format!("token {refresh_token}"),
    ] {
        let response = server.get("/v1/me", Some(&authorization)).await;
        assert_eq!(
            response.status(),
            StatusCode::UNAUTHORIZED,
            "{authorization}"
        );
    }
    let (status, body) = customer_key_token(&server, &app, access).await;
    assert_oauth_error(status, &body, StatusCode::BAD_REQUEST, "invalid_grant");
    let (status, body) = refresh(&server, &cli, &Value::from(demo.key.as_str())).await;
    assert_oauth_error(status, &body, StatusCode::BAD_REQUEST, "invalid_grant");
    // Still only the legitimate client's refresh works.
    let (status, _) = refresh(&server, &cli, &tokens["refresh_token"]).await;
    assert_eq!(status, StatusCode::OK);
}

/// RFC 9700 §4.4 (mix-up), RFC 9207. Two servers, one honest (A) and one the
/// attacker runs (B). Every authorization response, success or error, names its
/// issuer in `iss`, and discovery says so, so a client can tell B's answer from
/// A's; and A accepts neither B's codes nor B's tokens.
async fn mix_up(backend: Backend) {
    let (a, domain_a, _demo_a, cli) = setup(backend).await;
    let (b, domain_b, demo_b, cli_b) = setup(backend).await;
    assert_eq!(cli, cli_b, "the attacker registers the same client id");
    assert_ne!(a.url, b.url);
    for server in [&a, &b] {
        let metadata = json(
            server
                .get("/.well-known/oauth-authorization-server", None)
                .await,
        )
        .await;
        assert_eq!(metadata["issuer"], server.url.as_str());
        assert_eq!(
            metadata["authorization_response_iss_parameter_supported"],
            true
        );
    }
    let redirect = "http://127.0.0.1:50006/callback";
    let (verifier, challenge) = pkce();
    let from_b = authorize(
        &domain_b,
        &query(&cli, redirect, &challenge, "st"),
        &demo_b.account_id,
    )
    .await;
    assert_eq!(param(&from_b, "iss").as_deref(), Some(b.url.as_str()));
    let mut bad = query(&cli, redirect, &challenge, "st");
    bad.response_type = Some("token".into());
    let Err(Error::RedirectToClient(error)) = authorize::validate(&domain_a, &bad).await else {
        panic!("expected an error redirect");
    };
    assert_eq!(
        param(&error.url().unwrap(), "iss").as_deref(),
        Some(a.url.as_str())
    );

    // Sent to A anyway, B's code is unknown there.
    let code = param(&from_b, "code").unwrap();
    let (status, body) = exchange(&a, &cli, &code, redirect, &verifier).await;
    assert_oauth_error(status, &body, StatusCode::BAD_REQUEST, "invalid_grant");
    // B's tokens and keys mean nothing at A.
    let tokens_b = code_flow(&b, &domain_b, &cli, &demo_b.account_id).await;
    assert_eq!(
        me_status(&a, &tokens_b["access_token"]).await,
        StatusCode::UNAUTHORIZED
    );
    let response = a.get("/v1/me", demo_b.auth().as_deref()).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
}

/// RFC 9700 §4.7 (CSRF). `state` comes back byte for byte on success, denial and
/// error, with `iss`, for the client's own CSRF check. On the server, every form
/// of a signed-in user needs the token bound to their session: a cross-site POST
/// cannot approve a consent or create a key, and a login form posted into the
/// victim's browser (login CSRF) signs nobody in.
async fn csrf(backend: Backend) {
    let (server, domain, demo, cli) = setup(backend).await;
    let (verifier, challenge) = pkce();
    let redirect = "http://127.0.0.1:50004/callback";
    let state = "a b&c=d/é%25+?#x";
    let q = query(&cli, redirect, &challenge, state);
    let url = authorize(&domain, &q, &demo.account_id).await;
    assert_eq!(param(&url, "state").as_deref(), Some(state));
    assert_eq!(param(&url, "iss").as_deref(), Some(server.url.as_str()));
    let code = param(&url, "code").unwrap();
    let (status, _) = exchange(&server, &cli, &code, redirect, &verifier).await;
    assert_eq!(status, StatusCode::OK);
    let validated = authorize::validate(&domain, &q).await.unwrap();
    let denied = authorize::deny_redirect(&validated);
    assert_eq!(param(&denied, "error").as_deref(), Some("access_denied"));
    assert_eq!(param(&denied, "state").as_deref(), Some(state));
    assert_eq!(param(&denied, "iss").as_deref(), Some(server.url.as_str()));
    let mut bad = q.clone();
    bad.response_type = Some("token".into());
    let Err(Error::RedirectToClient(error)) = authorize::validate(&domain, &bad).await else {
        panic!("expected a redirect with an error");
    };
    assert_eq!(
        param(&error.url().unwrap(), "state").as_deref(),
        Some(state)
    );

    account_with_password(&server, "victim@example.com");
    account_with_password(&server, "attacker@example.com");
    let victim = Browser::new(&server.url);
    victim.sign_in_with_password("victim@example.com", PASSWORD, "/");
    let attacker = Browser::new(&server.url);
    attacker.sign_in_with_password("attacker@example.com", PASSWORD, "/");
    let attackers_token = attacker.get("/settings/api").csrf();
    let path = authorize_path(&cli, redirect, &challenge, None);
    let request = url::Url::parse(&server.endpoint(&path)).unwrap();
    let hidden: Vec<(String, String)> = request.query_pairs().into_owned().collect();
    for token in [None, Some("forged"), Some(attackers_token.as_str())] {
        let mut fields: Vec<(&str, &str)> = vec![("decision", "approve")];
        fields.extend(hidden.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        fields.extend(token.map(|t| ("csrf", t)));
        let page = victim.post("/oauth/authorize", &fields);
        assert_eq!(page.status, StatusCode::BAD_REQUEST, "{token:?}");
        assert_eq!(page.location, None, "no code for the attacker");
        let fields = [("name", "x"), ("csrf", token.unwrap_or(""))];
        let page = victim.post("/settings/api", &fields);
        assert_eq!(page.status, StatusCode::BAD_REQUEST, "{token:?}");
    }
    let keys = victim.get("/settings/api");
    assert_eq!(keys.status, StatusCode::OK, "still signed in");
    let listed = server.admin(&["api-key", "list", "--account", "victim@example.com"]);
    assert_eq!(
        listed["api_keys"],
        serde_json::json!([]),
        "no key was created"
    );

    let fresh = Browser::new(&server.url);
    fresh.get("/signin");
    let login = [
        ("email", "attacker@example.com"),
        ("password", PASSWORD),
        ("csrf", attackers_token.as_str()),
    ];
    let page = fresh.post("/signin/password", &login);
    assert_eq!(page.status, StatusCode::BAD_REQUEST);
    assert!(!fresh.cookies().contains_key("tessera_session"));
}

/// RFC 9700 §4.16 (clickjacking). Every page, consent above all, forbids framing
/// (`X-Frame-Options: DENY`, CSP `frame-ancestors 'none'`).
async fn clickjacking(backend: Backend) {
    let (server, _domain, _demo, cli) = setup(backend).await;
    account_with_password(&server, "victim@example.com");
    let victim = Browser::new(&server.url);
    let (_, challenge) = pkce();
    let consent = authorize_path(&cli, LOOPBACK, &challenge, None);
    let signin = victim.get("/signin");
    victim.sign_in_with_password("victim@example.com", PASSWORD, "/");
    let mut pages = vec![("/signin", signin)];
    for path in [
        consent.as_str(),
        "/device",
        "/settings/api",
        "/settings/sessions",
        "/developer/apps",
    ] {
        pages.push((path, victim.get(path)));
    }
    for (path, page) in pages {
        assert_eq!(page.status, StatusCode::OK, "{path}");
        assert_eq!(page.headers["x-frame-options"], "DENY", "{path}");
        let csp = page.headers["content-security-policy"].to_str().unwrap();
        assert!(csp.contains("frame-ancestors 'none'"), "{path}: {csp}");
    }
}

/// RFC 6749 §10.14 (code injection and input validation). An app's name is
/// chosen by whoever registers it and shown on the consent, device and sessions
/// pages: it is always HTML-escaped, and the CSP allows no inline script.
async fn xss_in_app_names(backend: Backend) {
    let (server, _domain, demo, _cli) = setup(backend).await;
    let evil = r#"<script>alert(1)</script><img src=x onerror="alert(2)">"#;
    let app = server.admin(&[
        "app",
        "create",
        "--account",
        &demo.email,
        "--name",
        evil,
        "--public",
        // About escaping, not DPoP (dpop.rs): plain token requests.
        "--dpop",
        "optional",
    ]);
    let client = app["client_id"].as_str().unwrap();
    account_with_password(&server, "victim@example.com");
    let victim = Browser::new(&server.url);
    victim.sign_in_with_password("victim@example.com", PASSWORD, "/");
    let (verifier, challenge) = pkce();
    let redirect = "http://127.0.0.1:50007/callback";
    let consent_path = authorize_path(client, redirect, &challenge, None);
    let consent = victim.get(&consent_path);
    let code = approve(&victim, &consent_path);
    let (status, _) = exchange(&server, client, &code, redirect, &verifier).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _, device) = post_form(
        &server,
        "/oauth/device_authorization",
        &[("client_id", client)],
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{device}");
    let user_code = device["user_code"].as_str().unwrap();
    let device_page = victim.get(&format!("/device?user_code={user_code}"));
    let sessions = victim.get("/settings/sessions");
    for (what, page) in [
        ("consent", &consent),
        ("device", &device_page),
        ("sessions", &sessions),
    ] {
        assert_eq!(page.status, StatusCode::OK, "{what}");
        assert!(!page.html.contains("<script>alert"), "{what}");
        assert!(!page.html.contains("<img src=x"), "{what}");
        assert!(
            page.html.contains("&lt;script&gt;") || page.html.contains("&#60;script&#62;"),
            "{what}: the name is shown, escaped"
        );
        let csp = page.headers["content-security-policy"].to_str().unwrap();
        assert!(csp.contains("script-src 'self'"), "{what}: {csp}");
        assert!(!csp.contains("unsafe-inline"), "{what}: {csp}");
    }
}

/// RFC 9700 §4.7 and RFC 6749 §10.12 (session fixation: the attacker plants
/// cookies in the victim's browser before sign-in, then uses them). Signing in
/// always starts a new session with a new secret, so cookies planted before sign-in
/// (the browser id, a made-up session id) give the attacker nothing.
async fn session_fixation(backend: Backend) {
    let (server, _domain, _demo, _cli) = setup(backend).await;
    account_with_password(&server, "victim@example.com");
    let attacker = Browser::new(&server.url);
    attacker.get("/signin");
    let made_up = "fixated-by-the-attacker".to_owned();
    let mut planted = attacker.cookies();
    planted.insert("tessera_session".into(), made_up.clone());
    assert!(planted.contains_key("tessera_browser"));

    let victim = Browser::new(&server.url);
    victim.set_cookies(planted.clone());
    let page = victim.sign_in_with_password("victim@example.com", PASSWORD, "/");
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    assert_ne!(
        victim.cookies()["tessera_session"],
        made_up,
        "a new session"
    );
    let keys = victim.get("/settings/api");
    assert!(keys.html.contains("victim@example.com"));

    let mut planted_only = planted.clone();
    planted_only.remove("tessera_session");
    for cookies in [planted, planted_only] {
        let attacker = Browser::new(&server.url);
        attacker.set_cookies(cookies);
        let page = attacker.get("/settings/api");
        assert_eq!(page.status, StatusCode::SEE_OTHER, "sent to sign in");
        assert!(!page.html.contains("victim@example.com"));
    }
}

/// RFC 9700 §2.3 (access token privilege restriction). A new API key outlives
/// the app and the user's revocation of it, so creating one needs the scope
/// `api_keys:write`, granted only to an app registered for it and named on the
/// consent page. A third-party app's token, a client-credentials token and a
/// token-URL session token all get 403 (200100); the user's own API key may still
/// create keys.
async fn third_party_app_minting_api_keys(backend: Backend) {
    let (server, domain, demo, cli) = setup(backend).await;
    let create_key = |authorization: String| {
        let server = &server;
        async move {
            let response = (server.http().post(server.endpoint("/v1/api-keys")))
                .header("authorization", authorization)
                .json(&serde_json::json!({"name": "persistence"}))
                .send()
                .await
                .unwrap();
            (response.status(), json(response).await)
        }
    };
    let assert_refused = |(status, body): (StatusCode, Value), what: &str| {
        assert_eq!(status, StatusCode::FORBIDDEN, "{what}: {body}");
        assert_eq!(body["code"], 200100, "{what}");
        assert!(
            body["message"].as_str().unwrap().contains("api_keys:write"),
            "{what}: {body}"
        );
    };

    let third_party = code_flow(&server, &domain, &cli, &demo.account_id).await;
    let bearer = |t: &Value| format!("Bearer {}", t.as_str().unwrap());
    assert_refused(
        create_key(bearer(&third_party["access_token"])).await,
        "authorization code",
    );
    let app = confidential_app(&server, &demo.email, &[]);
    let basic = Some(app.basic());
    let (status, cc) = customer_key_token(&server, &app, &demo.key).await;
    assert_eq!(status, StatusCode::OK, "{cc}");
    assert_refused(
        create_key(bearer(&cc["access_token"])).await,
        "customer_key",
    );
    let (status, level0) = session_token(&server, &demo.email).await;
    assert_eq!(status, StatusCode::OK, "{level0}");
    assert_refused(
        create_key(bearer(&level0["access_token"])).await,
        "token URL",
    );

    // An app not registered for the scope cannot even ask for it.
    let (_, challenge) = pkce();
    let mut q = query(&cli, LOOPBACK, &challenge, "st");
    q.scope = Some("THIRD_PARTY_OPERATION api_keys:write".into());
    let Err(Error::RedirectToClient(refused)) = authorize::validate(&domain, &q).await else {
        panic!("expected invalid_scope");
    };
    assert_eq!(
        param(&refused.url().unwrap(), "error").as_deref(),
        Some("invalid_scope")
    );
    for (form, basic) in [
        (
            vec![("client_id", cli.as_str()), ("scope", "api_keys:write")],
            None,
        ),
        (vec![("scope", "api_keys:write")], basic),
    ] {
        let path = if basic.is_some() {
            "/oauth/token"
        } else {
            "/oauth/device_authorization"
        };
        let mut form = form;
        if basic.is_some() {
            form.push(("grant_type", "client_credentials"));
        }
        let (status, _, body) = post_form(&server, path, &form, basic).await;
        assert_oauth_error(status, &body, StatusCode::BAD_REQUEST, "invalid_scope");
    }

    // A registered app gets it, once the user consents to a page that names it.
    let registered = server.admin(&[
        "app",
        "create",
        "--account",
        &demo.email,
        "--name",
        "Key manager",
        "--public",
        "--client-id",
        "key-manager",
        "--scope",
        "api_keys:write",
        "--dpop",
        "optional",
    ]);
    assert_eq!(registered["scopes"], "api_keys:write");
    account_with_password(&server, "user@example.com");
    let user = Browser::new(&server.url);
    user.sign_in_with_password("user@example.com", PASSWORD, "/");
    let (verifier, challenge) = pkce();
    let redirect = "http://127.0.0.1:50008/callback";
    let path = authorize_path(
        "key-manager",
        redirect,
        &challenge,
        Some("THIRD_PARTY_OPERATION api_keys:write"),
    );
    let consent = user.get(&path);
    assert!(consent.html.contains("api_keys:write"));
    assert!(
        consent
            .html
            .contains("keeps working after you revoke this app")
    );
    let code = approve(&user, &path);
    let (status, tokens) = exchange(&server, "key-manager", &code, redirect, &verifier).await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    assert_eq!(tokens["scope"], "THIRD_PARTY_OPERATION api_keys:write");
    let (status, created) = create_key(bearer(&tokens["access_token"])).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["scope"], "THIRD_PARTY_OPERATION");

    let (status, created) = create_key(format!("token {}", demo.key)).await;
    assert_eq!(status, StatusCode::CREATED, "an API key may: {created}");
}

/// RFC 9700 §4.10 (misuse of stolen access tokens: bound their lifetime and
/// privileges). A token made from an API key (`client_credentials` with
/// `customer_key`) dies when the key is revoked, at the next request on every
/// instance, and never lives past the key's expiry.
async fn token_outliving_its_api_key(backend: Backend) {
    let (a, _domain, demo, _cli) = setup(backend).await;
    let b = a.second_instance(&["--issuer", &a.url]);
    let app = confidential_app(&a, &demo.email, &[]);
    let basic = Some(app.basic());
    let (status, tokens) = customer_key_token(&a, &app, &demo.key).await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    for server in [&a, &b] {
        assert_eq!(
            me_status(server, &tokens["access_token"]).await,
            StatusCode::OK
        );
    }
    let response = (a
        .http()
        .delete(a.endpoint(&format!("/v1/api-keys/{}", demo.key_id))))
    .header("authorization", format!("token {}", demo.key))
    .send()
    .await
    .unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    for server in [&a, &b] {
        assert_eq!(
            me_status(server, &tokens["access_token"]).await,
            StatusCode::UNAUTHORIZED
        );
        let at = tokens["access_token"].as_str().unwrap();
        let (_, _, body) = post_form(server, "/oauth/introspect", &[("token", at)], basic).await;
        assert_eq!(body["active"], false);
    }

    let expiring = a.admin(&[
        "api-key",
        "create",
        "--account",
        &demo.email,
        "--expires-in",
        "10m",
    ]);
    let (status, tokens) = customer_key_token(&a, &app, expiring["key"].as_str().unwrap()).await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    let expires_in = tokens["expires_in"].as_u64().unwrap();
    assert!(
        (1..=600).contains(&expires_in),
        "capped at the key's expiry: {expires_in}"
    );
}

/// RFC 9700 §4.14.2 and RFC 7009 §2.1 (an access token outliving its login).
/// Access tokens name their token family, and every request checks it: when the
/// family ends (refresh token revoked, the user revoking the app, a replay), its
/// access tokens are refused at once, on every instance.
async fn access_token_outliving_its_family(backend: Backend) {
    let (a, domain, demo, cli) = setup(backend).await;
    let b = a.second_instance(&["--issuer", &a.url]);
    let tokens = code_flow(&a, &domain, &cli, &demo.account_id).await;
    assert_eq!(me_status(&b, &tokens["access_token"]).await, StatusCode::OK);
    let rt = tokens["refresh_token"].as_str().unwrap();
    let (status, _, _) = post_form(
        &a,
        "/oauth/revoke",
        &[
            ("token", rt),
            ("token_type_hint", "refresh_token"),
            ("client_id", &cli),
        ],
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        me_status(&b, &tokens["access_token"]).await,
        StatusCode::UNAUTHORIZED
    );
    let (status, body) = refresh(&b, &cli, &tokens["refresh_token"]).await;
    assert_oauth_error(status, &body, StatusCode::BAD_REQUEST, "invalid_grant");
    let app = confidential_app(&a, &demo.email, &[]);
    let basic = Some(app.basic());
    let (_, _, body) = post_form(&b, "/oauth/introspect", &[("token", rt)], basic).await;
    assert_eq!(body["active"], false);

    // The user revokes the app on the sessions page: its tokens end everywhere.
    account_with_password(&a, "user@example.com");
    let user = Browser::new(&a.url);
    user.sign_in_with_password("user@example.com", PASSWORD, "/");
    let (verifier, challenge) = pkce();
    let redirect = "http://127.0.0.1:50009/callback";
    let path = authorize_path(&cli, redirect, &challenge, None);
    let code = approve(&user, &path);
    let (status, tokens) = exchange(&a, &cli, &code, redirect, &verifier).await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    assert_eq!(me_status(&b, &tokens["access_token"]).await, StatusCode::OK);
    let sessions = user.get("/settings/sessions");
    let revoked = user.post(
        &format!("/settings/authorizations/{cli}/revoke"),
        &[("csrf", &sessions.csrf())],
    );
    assert_eq!(revoked.status, StatusCode::SEE_OTHER);
    assert_eq!(
        me_status(&b, &tokens["access_token"]).await,
        StatusCode::UNAUTHORIZED
    );
}

/// RFC 9700 §4.14.2 (refresh token expiration). Rotation never extends a login:
/// refresh tokens and access tokens of a family end with its absolute lifetime
/// (`--refresh-token-max-lifetime`, from the sign-in), and after it the refresh
/// grant says `invalid_grant`, so the user signs in again.
async fn refresh_token_beyond_its_absolute_lifetime(backend: Backend) {
    let a = Server::start_with(backend, &["--refresh-token-max-lifetime", "2h"]).await;
    let domain = domain(&a).await;
    let demo = a.demo_account().await;
    let cli = public_app(&a, &demo.email, "lofty-cli");
    let tokens = code_flow(&a, &domain, &cli, &demo.account_id).await;
    // When a refresh token expires, read where it is stored: only its own
    // (public) client could introspect it, and public clients cannot.
    let expiry = |rt: Value| {
        let domain = &domain;
        async move {
            let row = tessera_server::oauth::refresh::find(&domain.store, rt.as_str().unwrap());
            row.await.unwrap().unwrap().expires_at
        }
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let ends_at = expiry(tokens["refresh_token"].clone()).await;
    assert!(
        (now + 7200 - 60..=now + 7200 + 60).contains(&ends_at),
        "the refresh token lives the family's 2 h, not the 30 d TTL: {ends_at}"
    );
    // An hour and a half later (moved in the database, not waited for)…
    crate::support::execute(
        &a.database,
        "UPDATE token_families SET created_at = created_at - 5400",
    )
    .await;
    let (status, rotated) = refresh(&a, &cli, &tokens["refresh_token"]).await;
    assert_eq!(status, StatusCode::OK, "{rotated}");
    let second = expiry(rotated["refresh_token"].clone()).await;
    assert!(
        second <= ends_at - 5400 + 1,
        "rotation does not extend the login: {second}"
    );
    assert!(
        rotated["expires_in"].as_u64().unwrap() <= 1800 + 1,
        "nor does the access token outlive it: {rotated}"
    );
    // …and past the two hours, no more refreshing.
    crate::support::execute(
        &a.database,
        "UPDATE token_families SET created_at = created_at - 1800",
    )
    .await;
    let (status, body) = refresh(&a, &cli, &rotated["refresh_token"]).await;
    assert_oauth_error(status, &body, StatusCode::BAD_REQUEST, "invalid_grant");
}

/// Of concurrent answers at the token endpoint, the one that got tokens: asserts
/// there is exactly one, and that every other is `invalid_grant`.
fn the_one_winner(answers: Vec<(StatusCode, Value)>) -> Value {
    let shown = format!("{answers:?}");
    let (mut winners, losers): (Vec<_>, Vec<_>) =
        (answers.into_iter()).partition(|(status, _)| *status == StatusCode::OK);
    assert_eq!(winners.len(), 1, "{shown}");
    for (status, body) in losers {
        assert_oauth_error(status, &body, StatusCode::BAD_REQUEST, "invalid_grant");
    }
    winners.remove(0).1
}

/// POST /oauth/token with a refresh token, as the public client `client_id`.
async fn refresh(server: &Server, client_id: &str, refresh_token: &Value) -> (StatusCode, Value) {
    let form = [
        ("grant_type", "refresh_token"),
        ("client_id", client_id),
        ("refresh_token", refresh_token.as_str().unwrap()),
    ];
    token(server, &form, None).await
}

/// `/oauth/authorize?…` for a public client with an S256 challenge.
fn authorize_path(client: &str, redirect: &str, challenge: &str, scope: Option<&str>) -> String {
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    query
        .append_pair("response_type", "code")
        .append_pair("client_id", client)
        .append_pair("redirect_uri", redirect)
        .append_pair("state", "st")
        .append_pair("code_challenge", challenge)
        .append_pair("code_challenge_method", "S256");
    if let Some(scope) = scope {
        query.append_pair("scope", scope);
    }
    format!("/oauth/authorize?{}", query.finish())
}

/// A signed-in user approves the consent page of `path`: the code it sends back.
fn approve(user: &Browser, path: &str) -> String {
    let consent = user.get(path);
    assert_eq!(consent.status, StatusCode::OK, "{}", consent.html);
    let request = url::Url::parse(&format!("http://x{path}")).unwrap();
    let hidden: Vec<(String, String)> = request.query_pairs().into_owned().collect();
    let csrf = consent.csrf();
    let mut fields = vec![("csrf", csrf.as_str()), ("decision", "approve")];
    fields.extend(hidden.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    let approved = user.post("/oauth/authorize", &fields);
    assert_eq!(approved.status, StatusCode::SEE_OTHER);
    let back = url::Url::parse(approved.location.as_deref().unwrap()).unwrap();
    param(&back, "code").expect("a code")
}
