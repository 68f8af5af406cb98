//! Email one-time codes over HTTP: `POST /v1/auth/otp` then
//! `POST /v1/auth/otp/verify` -> a new API key. Codes are read from the file
//! outbox the server writes to.

use crate::support::{Backend, Server, json};
use reqwest::StatusCode;
use serde_json::json as j;

backend_tests!(
    otp_login_creates_an_api_key,
    otp_same_answer_for_unknown_address,
    otp_brute_force_cap,
    otp_reuse,
    otp_request_throttling,
    otp_codes_stay_out_of_logs,
);

async fn request(server: &Server, email: &str) -> reqwest::Response {
    server
        .http()
        .post(server.endpoint("/v1/auth/otp"))
        .json(&j!({ "email": email }))
        .send()
        .await
        .unwrap()
}

async fn verify(server: &Server, email: &str, code: &str) -> reqwest::Response {
    server
        .http()
        .post(server.endpoint("/v1/auth/otp/verify"))
        .json(&j!({ "email": email, "code": code }))
        .send()
        .await
        .unwrap()
}

fn wrong(code: &str) -> String {
    let n: u32 = code.parse().unwrap();
    format!("{:06}", (n + 1) % 1_000_000)
}

async fn otp_login_creates_an_api_key(backend: Backend) {
    let server = Server::start(backend).await;
    let demo = server.demo_account().await;
    let response = request(&server, &demo.email.to_uppercase()).await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let code = server.otp_code_nth(&demo.email, 0);
    // As pasted from the mail, line end and all.
    let response = verify(&server, &demo.email, &format!(" {code}\n")).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    // The body carries the new key: no cache may keep it.
    assert_eq!(response.headers()["cache-control"], "no-store");
    assert_eq!(response.headers()["pragma"], "no-cache");
    let created = json(response).await;
    assert_eq!(created["scope"], "THIRD_PARTY_OPERATION");
    let key = created["key"].as_str().unwrap();
    let me = json(server.get("/v1/me", Some(&format!("token {key}"))).await).await;
    assert_eq!(me["account_id"], demo.account_id.as_str());
}

async fn otp_same_answer_for_unknown_address(backend: Backend) {
    let server = Server::start(backend).await;
    let demo = server.demo_account().await;
    let known = request(&server, &demo.email).await;
    let unknown = request(&server, "nobody@example.com").await;
    assert_eq!(known.status(), unknown.status());
    assert_eq!(json(known).await, json(unknown).await);
    let response = verify(&server, "nobody@example.com", "123456").await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(json(response).await["error"], "invalid_otp");
}

/// Five wrong tries burn the code: the right one fails afterwards.
async fn otp_brute_force_cap(backend: Backend) {
    let server = Server::start(backend).await;
    let demo = server.demo_account().await;
    request(&server, &demo.email).await;
    let code = server.otp_code_nth(&demo.email, 0);
    for _ in 0..5 {
        let response = verify(&server, &demo.email, &wrong(&code)).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(json(response).await["error"], "invalid_otp");
    }
    let response = verify(&server, &demo.email, &code).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);

    // Four wrong tries leave the fifth to the right code.
    request(&server, &demo.email).await;
    let code = server.otp_code_nth(&demo.email, 1);
    for _ in 0..4 {
        assert_eq!(
            verify(&server, &demo.email, &wrong(&code)).await.status(),
            StatusCode::UNAUTHORIZED
        );
    }
    assert_eq!(
        verify(&server, &demo.email, &code).await.status(),
        StatusCode::CREATED
    );
}

/// A code works once; an expired one not at all.
async fn otp_reuse(backend: Backend) {
    let server = Server::start(backend).await;
    let demo = server.demo_account().await;
    request(&server, &demo.email).await;
    let code = server.otp_code_nth(&demo.email, 0);
    assert_eq!(
        verify(&server, &demo.email, &code).await.status(),
        StatusCode::CREATED
    );
    assert_eq!(
        verify(&server, &demo.email, &code).await.status(),
        StatusCode::UNAUTHORIZED
    );

    request(&server, &demo.email).await;
    let code = server.otp_code_nth(&demo.email, 1);
    crate::support::execute(&server.database, "UPDATE otp_codes SET expires_at = 0").await;
    assert_eq!(
        verify(&server, &demo.email, &code).await.status(),
        StatusCode::UNAUTHORIZED
    );
}

/// Requests are throttled per address (and per IP), with Retry-After.
async fn otp_request_throttling(backend: Backend) {
    let server = Server::start(backend).await;
    let demo = server.demo_account().await;
    for _ in 0..5 {
        assert_eq!(
            request(&server, &demo.email).await.status(),
            StatusCode::ACCEPTED
        );
    }
    let response = request(&server, &demo.email).await;
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(response.headers().contains_key("retry-after"));
    // Another address from the same IP still gets through (its IP limit is higher).
    assert_eq!(
        request(&server, "other@example.com").await.status(),
        StatusCode::ACCEPTED
    );
}

async fn otp_codes_stay_out_of_logs(backend: Backend) {
    let server = Server::start(backend).await;
    let demo = server.demo_account().await;
    request(&server, &demo.email).await;
    let code = server.otp_code_nth(&demo.email, 0);
    verify(&server, &demo.email, &wrong(&code)).await;
    verify(&server, &demo.email, &code).await;
    // Timestamps carry 6-digit fractions, so look for the code as a value.
    let logs = server.logs();
    for pattern in [
        format!(" {code}"),
        format!("={code}"),
        format!("\"{code}"),
        format!(":{code}"),
    ] {
        assert!(!logs.contains(&pattern), "the code is in the log:\n{logs}");
    }
    assert!(!logs.contains("one-time code is"), "{logs}");
}
