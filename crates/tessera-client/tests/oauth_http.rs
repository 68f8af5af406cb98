//! The Tessera-specific flows (token URL, email one-time code) over a real
//! socket with the real [`UreqClient`], against a stub that records the
//! request and answers as tesserad does. The standard flows are proven
//! against a real authorization server in `oauth_interop.rs`.

use tessera_client::oauth::{self, OAuthError, UreqClient};
use tessera_testkit::{HttpStub, StubResponse};

/// A stub answering every request with `status` and the JSON `body`.
fn stub(status: u16, body: &str) -> HttpStub {
    HttpStub::answering(StubResponse::text(status, body))
}

#[test]
fn session_token_posts_the_session_id_and_marks_level_0() {
    let server = stub(
        200,
        r#"{"access_token":"at","token_type":"Bearer","expires_in":300}"#,
    );
    let url = format!("{}/oauth/session-token", server.url);
    let token = oauth::session_token(&UreqClient::new(), &url, "sess_123").unwrap();
    assert_eq!(token.acr.as_deref(), Some(oauth::LEVEL_0_ACR));
    assert_eq!(token.expires_in, Some(300));
    let seen = server.only_request();
    assert_eq!(
        (seen.method.as_str(), seen.path.as_str()),
        ("POST", "/oauth/session-token")
    );
    assert_eq!(
        seen.header("content-type"),
        Some("application/x-www-form-urlencoded")
    );
    assert_eq!(seen.body, "session_id=sess_123");
}

#[test]
fn used_session_is_a_rejection() {
    let server = stub(
        400,
        r#"{"error":"invalid_grant","error_description":"session already used"}"#,
    );
    let err =
        oauth::session_token(&UreqClient::new(), &format!("{}/s", server.url), "sess").unwrap_err();
    assert!(err.is_invalid_grant(), "{err:?}");
}

#[test]
fn otp_request_and_verify() {
    let server = stub(202, r#"{"status":"sent"}"#);
    oauth::request_otp(&UreqClient::new(), &server.url, "dev@example.com").unwrap();
    let seen = server.only_request();
    assert_eq!(
        (seen.method.as_str(), seen.path.as_str()),
        ("POST", "/v1/auth/otp")
    );
    assert_eq!(seen.header("content-type"), Some("application/json"));
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&seen.body).unwrap(),
        serde_json::json!({"email": "dev@example.com"})
    );

    let server = stub(
        200,
        r#"{"id":"key_1","key":"lk_eyJ.new-key","scope":"THIRD_PARTY_OPERATION","expires_at":null}"#,
    );
    let created =
        oauth::verify_otp(&UreqClient::new(), &server.url, "dev@example.com", "123456").unwrap();
    assert_eq!(created.key.expose_secret(), "lk_eyJ.new-key");
    assert!(created.scope.contains("THIRD_PARTY_OPERATION"));
    let seen = server.only_request();
    assert_eq!(
        (seen.method.as_str(), seen.path.as_str()),
        ("POST", "/v1/auth/otp/verify")
    );
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&seen.body).unwrap(),
        serde_json::json!({"email": "dev@example.com", "code": "123456"})
    );
}

#[test]
fn wrong_otp_is_an_api_rejection() {
    let server = stub(
        400,
        r#"{"error":"invalid_otp","message":"Invalid OTP code"}"#,
    );
    let err = oauth::verify_otp(&UreqClient::new(), &server.url, "dev@example.com", "000000")
        .unwrap_err();
    match err {
        OAuthError::ApiRejected { status, body, .. } => {
            assert_eq!(status, 400);
            assert_eq!(body.message, "Invalid OTP code");
        }
        other => panic!("{other:?}"),
    }
}
