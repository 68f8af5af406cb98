//! The security properties of the authorization server, each a named test, over
//! HTTP against the real binary on both backends. The browser's part (sign-in,
//! consent, device approval) is played through the domain API on the same
//! database, as the web pages do.

use crate::oauth_support::*;
use crate::support::{Backend, Server, TestDb, json};
use reqwest::StatusCode;
use tessera_server::Error;
use tessera_server::oauth::authorize;
use tessera_server::oauth::device;

backend_tests!(
    pkce_downgrade,
    missing_and_plain_challenge,
    code_reuse_revokes_tokens,
    code_with_wrong_client,
    redirect_mismatch_and_open_redirect,
    state_round_trip,
    refresh_replay_revokes_family,
    device_slow_down,
    device_expiry,
    user_code_guessing_cap,
    revoked_token_rejected_everywhere,
    error_bodies_rfc6749_without_internals,
);

async fn setup(
    backend: Backend,
) -> (
    Server,
    tessera_server::AppState,
    crate::support::Demo,
    String,
) {
    let server = Server::start(backend).await;
    let domain = domain(&server).await;
    let demo = server.demo_account().await;
    let cli = public_app(&server, &demo.email, "lofty-cli");
    (server, domain, demo, cli)
}

/// A code bound to a challenge cannot be redeemed without the verifier, or with
/// another one; either attempt burns the code.
async fn pkce_downgrade(backend: Backend) {
    let (server, domain, demo, cli) = setup(backend).await;
    let (verifier, challenge) = pkce();
    let redirect = "http://127.0.0.1:50000/callback";
    let url = authorize(
        &domain,
        &query(&cli, redirect, &challenge, "x"),
        &demo.account_id,
    )
    .await;
    let code = param(&url, "code").unwrap();
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
    let (verifier, challenge) = pkce();
    let url = authorize(
        &domain,
        &query(&cli, redirect, &challenge, "y"),
        &demo.account_id,
    )
    .await;
    let code = param(&url, "code").unwrap();
    let (other_verifier, _) = pkce();
    let (status, body) = exchange(&server, &cli, &code, redirect, &other_verifier).await;
    assert_oauth_error(status, &body, StatusCode::BAD_REQUEST, "invalid_grant");
    let (status, _) = exchange(&server, &cli, &code, redirect, &verifier).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

/// No challenge, `plain`, or no method (which means plain) never reach sign-in:
/// they go back to the client with `error=invalid_request`.
async fn missing_and_plain_challenge(backend: Backend) {
    let (_server, domain, _demo, cli) = setup(backend).await;
    let (_, challenge) = pkce();
    let redirect = "http://127.0.0.1:50001/callback";
    let mut cases = Vec::new();
    let mut q = query(&cli, redirect, &challenge, "st");
    q.code_challenge = None;
    q.code_challenge_method = None;
    cases.push(q);
    let mut q = query(&cli, redirect, &challenge, "st");
    q.code_challenge_method = Some("plain".into());
    cases.push(q);
    let mut q = query(&cli, redirect, &challenge, "st");
    q.code_challenge_method = None;
    cases.push(q);
    let mut q = query(&cli, redirect, "too-short", "st");
    q.code_challenge_method = Some("S256".into());
    cases.push(q);
    for q in cases {
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
}

/// Redeeming a code twice fails and revokes what the first redemption issued.
async fn code_reuse_revokes_tokens(backend: Backend) {
    let (server, domain, demo, cli) = setup(backend).await;
    let (verifier, challenge) = pkce();
    let redirect = "http://127.0.0.1:50002/callback";
    let url = authorize(
        &domain,
        &query(&cli, redirect, &challenge, "x"),
        &demo.account_id,
    )
    .await;
    let code = param(&url, "code").unwrap();
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
    let (status, body) = token(
        &server,
        &[
            ("grant_type", "refresh_token"),
            ("client_id", &cli),
            ("refresh_token", tokens["refresh_token"].as_str().unwrap()),
        ],
        None,
    )
    .await;
    assert_oauth_error(status, &body, StatusCode::BAD_REQUEST, "invalid_grant");
}

/// A code issued to one client is useless to another, and burnt by the attempt.
async fn code_with_wrong_client(backend: Backend) {
    let (server, domain, demo, cli) = setup(backend).await;
    let other = public_app(&server, &demo.email, "llamactl");
    let (verifier, challenge) = pkce();
    let redirect = "http://127.0.0.1:50003/callback";
    let url = authorize(
        &domain,
        &query(&cli, redirect, &challenge, "x"),
        &demo.account_id,
    )
    .await;
    let code = param(&url, "code").unwrap();
    let (status, body) = exchange(&server, &other, &code, redirect, &verifier).await;
    assert_oauth_error(status, &body, StatusCode::BAD_REQUEST, "invalid_grant");
    // A confidential client with its valid secret fares no better.
    let app = confidential_app(&server, &demo.email, &[]);
    let (status, body) = token(
        &server,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", redirect),
            ("code_verifier", &verifier),
        ],
        Some((&app.client_id, &app.client_secret)),
    )
    .await;
    assert_oauth_error(status, &body, StatusCode::BAD_REQUEST, "invalid_grant");
    let (status, _) = exchange(&server, &cli, &code, redirect, &verifier).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

/// Unregistered redirect URIs are never redirected to; loopback may change only
/// its port; the token request must repeat the exact redirect URI.
async fn redirect_mismatch_and_open_redirect(backend: Backend) {
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
    match authorize::validate(
        &domain,
        &query("no-such-client", LOOPBACK, &challenge, "st"),
    )
    .await
    {
        Err(Error::UntrustedAuthorizationRequest { .. }) => {}
        other => panic!("unknown client: expected an error page, got {other:?}"),
    }
    // A registered loopback URI on another port is fine; the token request must
    // repeat it exactly.
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

/// `state` comes back byte for byte, on success, denial and error; `iss` too.
async fn state_round_trip(backend: Backend) {
    let (server, domain, demo, cli) = setup(backend).await;
    let (verifier, challenge) = pkce();
    let redirect = "http://127.0.0.1:50004/callback";
    let state = "a b&c=d/é%25+?#x";
    let q = query(&cli, redirect, &challenge, state);
    let url = authorize(&domain, &q, &demo.account_id).await;
    assert_eq!(param(&url, "state").as_deref(), Some(state));
    assert_eq!(param(&url, "iss").as_deref(), Some(server.url.as_str()));
    let (status, _) = exchange(
        &server,
        &cli,
        &param(&url, "code").unwrap(),
        redirect,
        &verifier,
    )
    .await;
    assert_eq!(status, StatusCode::OK);

    let validated = authorize::validate(&domain, &q).await.unwrap();
    let denied = authorize::deny_redirect(&validated);
    assert_eq!(param(&denied, "error").as_deref(), Some("access_denied"));
    assert_eq!(param(&denied, "state").as_deref(), Some(state));
    assert_eq!(param(&denied, "iss").as_deref(), Some(server.url.as_str()));
    assert_eq!(param(&denied, "code"), None);

    let mut bad = q.clone();
    bad.response_type = Some("token".into());
    let Err(Error::RedirectToClient(redirect)) = authorize::validate(&domain, &bad).await else {
        panic!("expected a redirect with an error");
    };
    let url = redirect.url().unwrap();
    assert_eq!(
        param(&url, "error").as_deref(),
        Some("unsupported_response_type")
    );
    assert_eq!(param(&url, "state").as_deref(), Some(state));
}

/// A rotated refresh token presented again revokes its whole family: every
/// refresh token and every access token issued from that login.
async fn refresh_replay_revokes_family(backend: Backend) {
    let (server, domain, demo, cli) = setup(backend).await;
    let first = code_flow(&server, &domain, &cli, &demo.account_id).await;
    let rt1 = first["refresh_token"].as_str().unwrap().to_owned();
    let refresh = |rt: String| {
        let server = &server;
        let cli = cli.clone();
        async move {
            token(
                server,
                &[
                    ("grant_type", "refresh_token"),
                    ("client_id", &cli),
                    ("refresh_token", &rt),
                ],
                None,
            )
            .await
        }
    };
    let (status, second) = refresh(rt1.clone()).await;
    assert_eq!(status, StatusCode::OK, "{second}");
    let rt2 = second["refresh_token"].as_str().unwrap().to_owned();
    assert_ne!(rt1, rt2, "rotated on use");
    assert_eq!(
        me_status(&server, &second["access_token"]).await,
        StatusCode::OK
    );

    let (status, body) = refresh(rt1).await;
    assert_oauth_error(status, &body, StatusCode::BAD_REQUEST, "invalid_grant");
    let (status, body) = refresh(rt2).await;
    assert_oauth_error(status, &body, StatusCode::BAD_REQUEST, "invalid_grant");
    for access in [&first["access_token"], &second["access_token"]] {
        assert_eq!(me_status(&server, access).await, StatusCode::UNAUTHORIZED);
    }
}

async fn device_authorization(server: &Server, client_id: &str) -> serde_json::Value {
    let (status, headers, body) = post_form(
        server,
        "/oauth/device_authorization",
        &[("client_id", client_id)],
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(headers["cache-control"], "no-store");
    assert_eq!(body["interval"], 5);
    body
}

async fn poll(
    server: &Server,
    client_id: &str,
    device_code: &str,
) -> (StatusCode, serde_json::Value) {
    token(
        server,
        &[
            ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
            ("client_id", client_id),
            ("device_code", device_code),
        ],
        None,
    )
    .await
}

/// Polling faster than the interval gets `slow_down`, +5 s each time, with the
/// new interval in the body; after approval, tokens come exactly once.
async fn device_slow_down(backend: Backend) {
    let (server, domain, demo, cli) = setup(backend).await;
    let auth = device_authorization(&server, &cli).await;
    let device_code = auth["device_code"].as_str().unwrap();
    let (status, body) = poll(&server, &cli, device_code).await;
    assert_oauth_error(
        status,
        &body,
        StatusCode::BAD_REQUEST,
        "authorization_pending",
    );
    let (status, body) = poll(&server, &cli, device_code).await;
    assert_oauth_error(status, &body, StatusCode::BAD_REQUEST, "slow_down");
    assert_eq!(body["interval"], 10);
    let (status, body) = poll(&server, &cli, device_code).await;
    assert_oauth_error(status, &body, StatusCode::BAD_REQUEST, "slow_down");
    assert_eq!(body["interval"], 15);

    device::approve(
        &domain,
        auth["user_code"].as_str().unwrap(),
        &demo.account_id,
        domain.now(),
    )
    .await
    .unwrap();
    // Let the interval pass without waiting: move the last poll into the past.
    server
        .db
        .execute("UPDATE device_codes SET last_polled_at = last_polled_at - 60")
        .await;
    let (status, tokens) = poll(&server, &cli, device_code).await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    assert_eq!(
        me_status(&server, &tokens["access_token"]).await,
        StatusCode::OK
    );
    server
        .db
        .execute("UPDATE device_codes SET last_polled_at = last_polled_at - 60")
        .await;
    let (status, body) = poll(&server, &cli, device_code).await;
    assert_oauth_error(status, &body, StatusCode::BAD_REQUEST, "invalid_grant");
}

/// An expired device code gets `expired_token` and can no longer be approved;
/// a denied one gets `access_denied`.
async fn device_expiry(backend: Backend) {
    let (server, domain, _demo, cli) = setup(backend).await;
    let auth = device_authorization(&server, &cli).await;
    server
        .db
        .execute("UPDATE device_codes SET expires_at = 0")
        .await;
    let (status, body) = poll(&server, &cli, auth["device_code"].as_str().unwrap()).await;
    assert_oauth_error(status, &body, StatusCode::BAD_REQUEST, "expired_token");
    assert!(
        device::approve(
            &domain,
            auth["user_code"].as_str().unwrap(),
            "acct_x",
            domain.now()
        )
        .await
        .is_err()
    );
    assert!(
        device::lookup(
            &domain,
            auth["user_code"].as_str().unwrap(),
            "10.1.1.1".parse().unwrap(),
            domain.now()
        )
        .await
        .is_err()
    );

    let auth = device_authorization(&server, &cli).await;
    device::deny(&domain, auth["user_code"].as_str().unwrap(), domain.now())
        .await
        .unwrap();
    let (status, body) = poll(&server, &cli, auth["device_code"].as_str().unwrap()).await;
    assert_oauth_error(status, &body, StatusCode::BAD_REQUEST, "access_denied");
}

/// Wrong user codes are counted per IP; past the cap even the right code is
/// refused from that IP, while other IPs are unaffected.
async fn user_code_guessing_cap(backend: Backend) {
    let (server, domain, _demo, cli) = setup(backend).await;
    let auth = device_authorization(&server, &cli).await;
    let user_code = auth["user_code"].as_str().unwrap();
    let attacker: std::net::IpAddr = "10.9.9.9".parse().unwrap();
    let found = device::lookup(&domain, &user_code.to_lowercase(), attacker, domain.now())
        .await
        .unwrap();
    assert_eq!(found.client_id, cli);
    assert_eq!(found.client_name, "A CLI");
    for guess in 0..device::GUESS_LIMIT.max {
        let wrong = format!("BCDF-{:04}", guess);
        let err = device::lookup(&domain, &wrong, attacker, domain.now())
            .await
            .unwrap_err();
        assert!(matches!(err, Error::NotFound(_)), "{err:?}");
    }
    let err = device::lookup(&domain, user_code, attacker, domain.now())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::TooManyRequests { .. }), "{err:?}");
    let other: std::net::IpAddr = "10.9.9.10".parse().unwrap();
    assert!(
        device::lookup(&domain, user_code, other, domain.now())
            .await
            .is_ok()
    );
}

/// A revocation on one instance is honoured by every instance at once: the API,
/// introspection and the refresh grant.
async fn revoked_token_rejected_everywhere(backend: Backend) {
    let (a, domain, demo, cli) = setup(backend).await;
    let b = Server::start_on(
        TestDb {
            url: a.db.url.clone(),
            backend,
            dir: tempfile::tempdir().unwrap(),
        },
        a.master_key.clone(),
        // One service: every instance has the same issuer.
        &["--issuer", &a.url],
    );
    let app = confidential_app(&a, &demo.email, &[]);
    let basic = Some((app.client_id.as_str(), app.client_secret.as_str()));
    let (status, cc) = token(
        &a,
        &[
            ("grant_type", "client_credentials"),
            ("customer_key", &demo.key),
        ],
        basic,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{cc}");
    let at = cc["access_token"].as_str().unwrap();
    assert_eq!(me_status(&b, &cc["access_token"]).await, StatusCode::OK);

    let (status, _, _) = post_form(&a, "/oauth/revoke", &[("token", at)], basic).await;
    assert_eq!(status, StatusCode::OK);
    for server in [&a, &b] {
        assert_eq!(
            me_status(server, &cc["access_token"]).await,
            StatusCode::UNAUTHORIZED
        );
        let (status, _, body) =
            post_form(server, "/oauth/introspect", &[("token", at)], basic).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body, serde_json::json!({"active": false}));
    }

    // A refresh token revoked at A: its family is dead at B too.
    let tokens = code_flow(&a, &domain, &cli, &demo.account_id).await;
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
    let (status, body) = token(
        &b,
        &[
            ("grant_type", "refresh_token"),
            ("client_id", &cli),
            ("refresh_token", rt),
        ],
        None,
    )
    .await;
    assert_oauth_error(status, &body, StatusCode::BAD_REQUEST, "invalid_grant");
    let (_, _, body) = post_form(&b, "/oauth/introspect", &[("token", rt)], basic).await;
    assert_eq!(body["active"], false);
}

/// Path, form, Basic credentials, expected status, expected `error`.
type ErrorCase<'a> = (
    &'a str,
    Vec<(&'a str, &'a str)>,
    Option<(&'a str, &'a str)>,
    StatusCode,
    &'a str,
);

/// Every OAuth error is `{"error", "error_description"}` with the right status,
/// `Cache-Control: no-store`, and no internals (SQL, paths, Rust types).
async fn error_bodies_rfc6749_without_internals(backend: Backend) {
    let (server, _domain, demo, cli) = setup(backend).await;
    let app = confidential_app(&server, &demo.email, &["--grant", "client_credentials"]);
    let basic = Some((app.client_id.as_str(), app.client_secret.as_str()));
    let wrong = Some((app.client_id.as_str(), "not-the-secret"));
    let cases: Vec<ErrorCase> = vec![
        (
            "/oauth/token",
            vec![],
            basic,
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            "/oauth/token",
            vec![("grant_type", "password")],
            basic,
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
        ),
        (
            "/oauth/token",
            vec![("grant_type", "client_credentials")],
            wrong,
            StatusCode::UNAUTHORIZED,
            "invalid_client",
        ),
        (
            "/oauth/token",
            vec![
                ("grant_type", "client_credentials"),
                ("client_id", "nobody"),
                ("client_secret", "x"),
            ],
            None,
            StatusCode::UNAUTHORIZED,
            "invalid_client",
        ),
        (
            "/oauth/token",
            vec![("grant_type", "client_credentials"), ("client_id", &cli)],
            None,
            StatusCode::BAD_REQUEST,
            "unauthorized_client",
        ),
        (
            "/oauth/token",
            vec![("grant_type", "refresh_token"), ("refresh_token", "rt_x")],
            basic,
            StatusCode::BAD_REQUEST,
            "unauthorized_client",
        ),
        (
            "/oauth/token",
            vec![("grant_type", "client_credentials"), ("scope", "admin")],
            basic,
            StatusCode::BAD_REQUEST,
            "invalid_scope",
        ),
        (
            "/oauth/token",
            vec![
                ("grant_type", "client_credentials"),
                ("customer_key", "eyJhbGciOiJub25lIn0.e30."),
            ],
            basic,
            StatusCode::BAD_REQUEST,
            "invalid_grant",
        ),
        (
            "/oauth/token",
            vec![
                ("grant_type", "authorization_code"),
                ("client_id", &cli),
                ("code", "nope"),
                ("redirect_uri", LOOPBACK),
                ("code_verifier", "x"),
            ],
            None,
            StatusCode::BAD_REQUEST,
            "invalid_grant",
        ),
        (
            "/oauth/token",
            vec![
                ("grant_type", "client_credentials"),
                ("grant_type", "client_credentials"),
            ],
            basic,
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            "/oauth/session-token",
            vec![("session_id", "' OR 1=1 --")],
            None,
            StatusCode::BAD_REQUEST,
            "invalid_grant",
        ),
        (
            "/oauth/session-token",
            vec![],
            None,
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            "/oauth/introspect",
            vec![("token", "x"), ("client_id", &cli)],
            None,
            StatusCode::UNAUTHORIZED,
            "invalid_client",
        ),
        (
            "/oauth/revoke",
            vec![("token", "x")],
            wrong,
            StatusCode::UNAUTHORIZED,
            "invalid_client",
        ),
        (
            "/oauth/device_authorization",
            vec![
                ("client_id", &app.client_id),
                ("client_secret", &app.client_secret),
            ],
            None,
            StatusCode::BAD_REQUEST,
            "unauthorized_client",
        ),
    ];
    for (path, form, auth, status_expected, error) in cases {
        let (status, headers, body) = post_form(&server, path, &form, auth).await;
        assert_oauth_error(status, &body, status_expected, error);
        assert_eq!(headers["cache-control"], "no-store", "{path} {body}");
        if status == StatusCode::UNAUTHORIZED {
            assert!(headers.contains_key("www-authenticate"), "{path}");
        }
        let text = body.to_string().to_lowercase();
        for internal in [
            "sqlx", "select ", "database", "/tmp", "panicked", "error {", "::",
        ] {
            assert!(!text.contains(internal), "{path}: {internal} in {text}");
        }
    }
    // A JSON body instead of a form is also an RFC 6749 error.
    let response = server
        .http()
        .post(server.endpoint("/oauth/token"))
        .json(&serde_json::json!({"grant_type": "client_credentials"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let body = json(response).await;
    assert_oauth_error(
        StatusCode::BAD_REQUEST,
        &body,
        StatusCode::BAD_REQUEST,
        "invalid_request",
    );
}
