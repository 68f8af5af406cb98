//! Rate limits through the real binary: exact headers and 429 on both backends
//! (PostgreSQL uses the shared limiter by default), the admin flags, the config
//! file, `--no-rate-limit`, and the rejection counter in `/metrics`.

use crate::oauth_support as oauth;
use crate::support::{Backend, Server, json};
use reqwest::StatusCode;

backend_tests!(
    api_key_limit_headers_and_429,
    oauth_tokens_share_their_apps_limit,
    app_limits_from_admin,
    configured_limits_and_switch_off,
);

fn num(response: &reqwest::Response, name: &str) -> i64 {
    response
        .headers()
        .get(name)
        .unwrap_or_else(|| panic!("no {name} header"))
        .to_str()
        .unwrap()
        .parse()
        .unwrap()
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        .try_into()
        .unwrap()
}

async fn api_key_limit_headers_and_429(backend: Backend) {
    let server = Server::start(backend).await;
    let demo = server.demo_account().await;
    let before = unix_now();
    let mut reset = None;
    for i in 0..100 {
        let response = server.get("/v1/me", demo.auth().as_deref()).await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(num(&response, "x-ratelimit-limit"), 100);
        assert_eq!(num(&response, "x-ratelimit-remaining"), 99 - i);
        let r = num(&response, "x-ratelimit-reset");
        // Reset is when the first request of the window leaves it.
        assert_eq!(*reset.get_or_insert(r), r);
    }
    let reset = reset.unwrap();
    assert!(
        (before + 60..=unix_now() + 60).contains(&reset),
        "{reset} vs {before}"
    );
    let refused = server.get("/v1/me", demo.auth().as_deref()).await;
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(num(&refused, "x-ratelimit-limit"), 100);
    assert_eq!(num(&refused, "x-ratelimit-remaining"), 0);
    assert_eq!(num(&refused, "x-ratelimit-reset"), reset);
    let retry_after = num(&refused, "retry-after");
    assert!((1..=60).contains(&retry_after), "{retry_after}");
    assert!(reset - retry_after <= unix_now());
    let body = json(refused).await;
    assert_eq!(body["error"], "rate_limited");
    assert!(body["message"].is_string());

    // Another account is not affected.
    let other = server.demo_account().await;
    let response = server.get("/v1/projects", other.auth().as_deref()).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(num(&response, "x-ratelimit-remaining"), 99);

    let metrics = server.get("/metrics", None).await.text().await.unwrap();
    assert!(
        metrics.contains(r#"tesserad_rate_limit_rejections_total{scope="app"} 1"#),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"tesserad_http_requests_total{route="/v1/me",status="429"} 1"#),
        "{metrics}"
    );
}

async fn app_limits_from_admin(backend: Backend) {
    let server = Server::start(backend).await;
    let demo = server.demo_account().await;
    let app = server.admin(&[
        "app",
        "create",
        "--account",
        &demo.email,
        "--name",
        "Limited",
        "--rate-limit",
        "7/min",
    ]);
    assert_eq!(app["rate_limit_per_min"], 7);
    assert_eq!(app["rate_limit_source"], "app");
    let client_id = app["client_id"].as_str().unwrap();
    let updated = server.admin(&[
        "app",
        "update",
        client_id,
        "--mode",
        "production",
        "--rate-limit",
        "default",
    ]);
    assert_eq!(updated["mode"], "production");
    assert_eq!(updated["rate_limit_per_min"], 500);
    assert_eq!(updated["rate_limit_source"], "mode");
    let updated = server.admin(&["app", "update", client_id, "--rate-limit", "42"]);
    assert_eq!(updated["rate_limit_per_min"], 42);
    let plain = server.admin(&["app", "create", "--account", &demo.email, "--name", "P"]);
    assert_eq!(plain["rate_limit_per_min"], 100);

    let bad = server.admin_output(&["app", "update", client_id, "--rate-limit", "0/min"]);
    assert!(!bad.status.success());
    let missing = server.admin_output(&["app", "update", "app_nope", "--mode", "production"]);
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("no app app_nope"));
}

async fn configured_limits_and_switch_off(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("tesserad.toml");
    std::fs::write(
        &config,
        "rate_limit_development = 3\nrate_limit_per_ip = 2\n\n[rate_limit_endpoints]\n\"/v1/projects\" = 1\n",
    )
    .unwrap();
    let server = Server::start_with(backend, &["--config", config.to_str().unwrap()]).await;
    let demo = server.demo_account().await;
    let response = server.get("/v1/projects", demo.auth().as_deref()).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(num(&response, "x-ratelimit-limit"), 1);
    let response = server.get("/v1/projects", demo.auth().as_deref()).await;
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    // The endpoint's admitted request counted in the account's window too.
    for remaining in [1, 0] {
        let response = server.get("/v1/me", demo.auth().as_deref()).await;
        assert_eq!(num(&response, "x-ratelimit-limit"), 3);
        assert_eq!(num(&response, "x-ratelimit-remaining"), remaining);
    }
    assert_eq!(
        server.get("/v1/me", demo.auth().as_deref()).await.status(),
        StatusCode::TOO_MANY_REQUESTS
    );

    // Per client address on the token endpoint: each of these is a guess (no
    // client credentials), so each counts.
    let token = || async {
        server
            .http()
            .post(server.endpoint("/oauth/token"))
            .form(&[("grant_type", "client_credentials")])
            .send()
            .await
            .unwrap()
    };
    assert_eq!(num(&token().await, "x-ratelimit-remaining"), 1);
    assert_eq!(num(&token().await, "x-ratelimit-remaining"), 0);
    let refused = token().await;
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(json(refused).await["error"], "rate_limited");
    let metrics = server.get("/metrics", None).await.text().await.unwrap();
    assert!(
        metrics.contains(r#"tesserad_rate_limit_rejections_total{scope="ip"} 1"#),
        "{metrics}"
    );

    let off = Server::start_with(backend, &["--no-rate-limit"]).await;
    let demo = off.demo_account().await;
    for _ in 0..120 {
        let response = off.get("/v1/me", demo.auth().as_deref()).await;
        assert_eq!(response.status(), StatusCode::OK);
        assert!(!response.headers().contains_key("x-ratelimit-limit"));
    }
}

async fn oauth_tokens_share_their_apps_limit(backend: Backend) {
    let server = Server::start(backend).await;
    let demo = server.demo_account().await;
    let app = oauth::confidential_app(&server, &demo.email, &["--rate-limit", "3/min"]);
    let basic = Some((app.client_id.as_str(), app.client_secret.as_str()));
    let mut bearers = Vec::new();
    for _ in 0..2 {
        let (status, body) =
            oauth::token(&server, &[("grant_type", "client_credentials")], basic).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        bearers.push(format!("Bearer {}", body["access_token"].as_str().unwrap()));
    }
    // Two tokens of one app: one window of 3.
    for (i, bearer) in [&bearers[0], &bearers[1], &bearers[0]].iter().enumerate() {
        let response = server.get("/v1/me", Some(bearer)).await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(num(&response, "x-ratelimit-limit"), 3);
        assert_eq!(num(&response, "x-ratelimit-remaining"), 2 - i as i64);
    }
    let refused = server.get("/v1/me", Some(&bearers[1])).await;
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    // The account's bare API key is its own (development) app.
    let response = server.get("/v1/me", demo.auth().as_deref()).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(num(&response, "x-ratelimit-limit"), 100);

    // Its token requests count against the app too (issue 17 §2), in a window
    // of their own, not against the client's address.
    let (status, headers, _) = oauth::post_form(
        &server,
        "/oauth/token",
        &[("grant_type", "client_credentials")],
        basic,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers["x-ratelimit-limit"], "3");
    assert_eq!(headers["x-ratelimit-remaining"], "0");
}
