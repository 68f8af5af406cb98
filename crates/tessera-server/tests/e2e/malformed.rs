//! Malformed input is a 400 with a clear message, never a 500.

use crate::support::{Backend, Server, json};
use reqwest::StatusCode;
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HeaderValue};

backend_tests!(
    bad_json_is_400,
    oversized_body_is_400,
    non_ascii_authorization_is_400,
    unknown_path_is_404,
    a_nul_character_in_a_parameter_is_no_500
);

/// PostgreSQL refuses a NUL in text: a `%00` in a client id reached it and
/// came back as a 500 from every OAuth endpoint and the consent page.
async fn a_nul_character_in_a_parameter_is_no_500(backend: Backend) {
    let server = Server::start(backend).await;
    let http = server.http();
    for (path, form) in [
        (
            "/oauth/token",
            "grant_type=client_credentials&client_id=a%00b&client_secret=x",
        ),
        ("/oauth/device_authorization", "client_id=a%00b"),
        ("/oauth/revoke", "token=x&client_id=a%00b"),
        ("/oauth/introspect", "token=x&client_id=a%00b"),
    ] {
        let response = http
            .post(server.endpoint(path))
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(form)
            .send()
            .await
            .unwrap();
        assert!(
            response.status().is_client_error(),
            "{path}: {}",
            response.status()
        );
    }
    let authorize =
        "/oauth/authorize?response_type=code&client_id=a%00b&redirect_uri=http://127.0.0.1/cb";
    let response = http.get(server.endpoint(authorize)).send().await.unwrap();
    assert!(response.status().is_client_error(), "{}", response.status());
}

async fn bad_json_is_400(backend: Backend) {
    let server = Server::start(backend).await;
    let demo = server.demo_account().await;
    for body in [
        "{",
        "[1,2]",
        r#"{"expires_in": 5}"#,
        r#"{"expires_in": "soon"}"#,
        "\u{0}",
    ] {
        let response = server
            .http()
            .post(server.endpoint("/v1/api-keys"))
            .header(AUTHORIZATION, demo.auth().unwrap())
            .header(CONTENT_TYPE, "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{body:?}");
        let body = json(response).await;
        assert_eq!(body["error"], "invalid_request");
        assert!(!body["message"].as_str().unwrap().is_empty());
    }
}

async fn oversized_body_is_400(backend: Backend) {
    let server = Server::start(backend).await;
    let demo = server.demo_account().await;
    let big = format!(r#"{{"name": "{}"}}"#, "x".repeat(200 * 1024));
    let response = server
        .http()
        .post(server.endpoint("/v1/api-keys"))
        .header(AUTHORIZATION, demo.auth().unwrap())
        .header(CONTENT_TYPE, "application/json")
        .body(big)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert!(
        json(response).await["message"]
            .as_str()
            .unwrap()
            .contains("larger than")
    );
}

async fn non_ascii_authorization_is_400(backend: Backend) {
    let server = Server::start(backend).await;
    let value = HeaderValue::from_bytes(b"token \xff\xfe\xc3\x28").unwrap();
    let response = server
        .http()
        .get(server.endpoint("/v1/me"))
        .header(AUTHORIZATION, value)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(json(response).await["error"], "invalid_request");
}

async fn unknown_path_is_404(backend: Backend) {
    let server = Server::start(backend).await;
    let response = server.get("/v1/nope", None).await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert_eq!(json(response).await["error"], "not_found");
}
