//! Per-address limits that stop attackers, not customers (issue 17 §2): the
//! token endpoint counts guesses per address and grants per app; behind a
//! trusted proxy every per-address limit, and the audit trail, see the
//! forwarded client; without that setting the header changes nothing.

use crate::attacks_limits::behind_proxy;
use crate::browser::sign_in_with_code;
use crate::oauth_support as oauth;
use crate::support::{Backend, Server};
use reqwest::StatusCode;
use tessera_testkit::Browser;

backend_tests!(
    a_backend_behind_one_address_is_limited_per_app_not_per_address,
    behind_a_trusted_proxy_limits_and_the_audit_trail_see_the_client,
    a_forwarded_header_from_a_client_changes_nothing,
);

fn number(response: &reqwest::Response, name: &str) -> i64 {
    let value = response.headers().get(name);
    let value = value.unwrap_or_else(|| panic!("no {name}"));
    value.to_str().unwrap().parse().unwrap()
}

async fn otp_request(server: &Server, email: &str, from: Option<&str>) -> StatusCode {
    let mut request = (server.http().post(server.endpoint("/v1/auth/otp")))
        .json(&serde_json::json!({ "email": email }));
    if let Some(from) = from {
        request = request.header("x-forwarded-for", from);
    }
    request.send().await.unwrap().status()
}

/// 30 grants from one address with a per-address limit of 5: every one is
/// admitted and counted against the app (its own window, limit 1000); the
/// guesses that follow find the address's window empty, so the given-back
/// slots left nothing behind.
async fn a_backend_behind_one_address_is_limited_per_app_not_per_address(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("tesserad.toml");
    std::fs::write(&config, "rate_limit_per_ip = 5\n").unwrap();
    let server = Server::start_with(backend, &["--config", config.to_str().unwrap()]).await;
    let demo = server.demo_account().await;
    let app = oauth::confidential_app(&server, &demo.email, &["--rate-limit", "1000/min"]);
    let grant = |secret: &str| {
        (server.http().post(server.endpoint("/oauth/token")))
            .basic_auth(&app.client_id, Some(secret))
            .form(&[("grant_type", "client_credentials")])
            .send()
    };
    for i in 0..30 {
        let response = grant(&app.client_secret).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(number(&response, "x-ratelimit-limit"), 1000);
        assert_eq!(number(&response, "x-ratelimit-remaining"), 999 - i);
    }
    for remaining in (0..5).rev() {
        let response = grant("a wrong secret").await.unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(number(&response, "x-ratelimit-limit"), 5);
        assert_eq!(number(&response, "x-ratelimit-remaining"), remaining);
    }
    let refused = grant("a wrong secret").await.unwrap();
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
}

/// Behind a trusted proxy one client exhausting the one-time-code requests of
/// its address (20) leaves another client's untouched, and the activity page
/// shows where a sign-in came from.
async fn behind_a_trusted_proxy_limits_and_the_audit_trail_see_the_client(backend: Backend) {
    let (server, _config) =
        behind_proxy(backend, "[rate_limit_endpoints]\n\"/v1/auth/otp\" = 1000\n").await;
    for i in 0..20 {
        let email = format!("a{i}@example.com");
        let status = otp_request(&server, &email, Some("203.0.113.1")).await;
        assert_eq!(status, StatusCode::ACCEPTED);
    }
    let over = otp_request(&server, "a20@example.com", Some("203.0.113.1")).await;
    assert_eq!(over, StatusCode::TOO_MANY_REQUESTS);
    let other = otp_request(&server, "b@example.com", Some("203.0.113.2")).await;
    assert_eq!(other, StatusCode::ACCEPTED);

    let demo = server.demo_account().await;
    let browser = Browser::new(&server.url).at("198.51.100.77");
    sign_in_with_code(&browser, &server, &demo.email, 0);
    let activity = browser.get("/settings/activity");
    assert_eq!(activity.status, StatusCode::OK);
    assert!(activity.html.contains("198.51.100.77"), "{}", activity.html);
}

/// Without `rate_limit_trust_forwarded_for`, a client that writes its own
/// `X-Forwarded-For` is still counted at its TCP address.
async fn a_forwarded_header_from_a_client_changes_nothing(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("tesserad.toml");
    std::fs::write(&config, "[rate_limit_endpoints]\n\"/v1/auth/otp\" = 1000\n").unwrap();
    let server = Server::start_with(backend, &["--config", config.to_str().unwrap()]).await;
    for i in 0..20 {
        let forged = format!("203.0.113.{i}");
        let status = otp_request(&server, &format!("a{i}@example.com"), Some(&forged)).await;
        assert_eq!(status, StatusCode::ACCEPTED);
    }
    let over = otp_request(&server, "b@example.com", Some("198.51.100.1")).await;
    assert_eq!(over, StatusCode::TOO_MANY_REQUESTS);
}
