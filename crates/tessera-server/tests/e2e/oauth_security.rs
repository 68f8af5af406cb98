//! Security properties of the authorization server beyond the attack list of
//! `attacks.rs`: the device flow's pacing and expiry, the user-code guessing cap,
//! revocation across instances, and RFC 6749 error bodies. Over HTTP against the
//! real binary on both backends; the browser's part (device approval) is played
//! through the domain API on the same database, as the web pages do.

use crate::oauth_support::*;
use crate::support::{Backend, Server, json};
use reqwest::StatusCode;
use tessera_server::Error;
use tessera_server::oauth::device;

backend_tests!(
    device_slow_down,
    device_expiry,
    user_code_guessing_cap,
    revoked_token_rejected_everywhere,
    error_bodies_rfc6749_without_internals,
);

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

/// Polling faster than the interval gets `slow_down`, +5 s each time up to a
/// minute, with the new interval in the body; after approval, tokens come
/// exactly once.
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
    // Up to a minute, where a poll too fast changes (and writes) nothing.
    for expected in (20..=60).step_by(5).chain([60, 60]) {
        let (status, body) = poll(&server, &cli, device_code).await;
        assert_oauth_error(status, &body, StatusCode::BAD_REQUEST, "slow_down");
        assert_eq!(body["interval"], expected);
    }

    device::approve(
        &domain,
        auth["user_code"].as_str().unwrap(),
        &demo.account_id,
        domain.now(),
    )
    .await
    .unwrap();
    // Let the interval pass without waiting: move the last poll into the past.
    crate::support::execute(
        &server.database,
        "UPDATE device_codes SET last_polled_at = last_polled_at - 60",
    )
    .await;
    let (status, tokens) = poll(&server, &cli, device_code).await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    assert_eq!(
        me_status(&server, &tokens["access_token"]).await,
        StatusCode::OK
    );
    crate::support::execute(
        &server.database,
        "UPDATE device_codes SET last_polled_at = last_polled_at - 60",
    )
    .await;
    let (status, body) = poll(&server, &cli, device_code).await;
    assert_oauth_error(status, &body, StatusCode::BAD_REQUEST, "invalid_grant");
}

/// An expired device code gets `expired_token` and can no longer be approved;
/// a denied one gets `access_denied`.
async fn device_expiry(backend: Backend) {
    let (server, domain, _demo, cli) = setup(backend).await;
    let auth = device_authorization(&server, &cli).await;
    crate::support::execute(&server.database, "UPDATE device_codes SET expires_at = 0").await;
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

/// An access token revoked on one instance (RFC 7009) is refused by every
/// instance at once, by the API and by introspection. (Families:
/// `attacks::access_token_outliving_its_family`.)
async fn revoked_token_rejected_everywhere(backend: Backend) {
    let (a, _domain, demo, _cli) = setup(backend).await;
    // One service: every instance has the same issuer.
    let b = a.second_instance(&["--issuer", &a.url]);
    let app = confidential_app(&a, &demo.email, &[]);
    let basic = Some((app.client_id.as_str(), app.client_secret.as_str()));
    let (status, cc) = customer_key_token(&a, &app, &demo.key).await;
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
