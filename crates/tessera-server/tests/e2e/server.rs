//! Operations: health, metrics, JWKS, graceful shutdown.

use crate::support::{Backend, Server, json};
use reqwest::StatusCode;

backend_tests!(
    healthz_metrics_jwks,
    sigterm_shuts_down_cleanly,
    json_logs_carry_no_secrets
);

async fn healthz_metrics_jwks(backend: Backend) {
    let server = Server::start(backend).await;
    let demo = server.demo_account().await;
    let health = server.get("/healthz", None).await;
    assert_eq!(health.status(), StatusCode::OK);
    assert_eq!(json(health).await["status"], "ok");
    server.get("/v1/me", demo.auth().as_deref()).await;
    server.get("/v1/me", None).await;

    let jwks = json(server.get("/.well-known/jwks.json", None).await).await;
    let key = &jwks["keys"][0];
    assert_eq!(key["kty"], "OKP");
    assert_eq!(key["crv"], "Ed25519");
    assert_eq!(key["alg"], "EdDSA");
    assert!(key.get("d").is_none(), "never the private half");

    let text = server.get("/metrics", None).await.text().await.unwrap();
    assert!(
        text.contains(r#"tesserad_http_requests_total{route="/v1/me",status="200"} 1"#),
        "{text}"
    );
    assert!(
        text.contains(r#"tesserad_http_requests_total{route="/v1/me",status="401"} 1"#),
        "{text}"
    );
    assert!(
        text.contains("tesserad_http_request_duration_seconds_bucket"),
        "{text}"
    );
    assert!(
        text.contains(r#"tesserad_tokens_issued_total{grant="client_credentials"} 0"#),
        "{text}"
    );
    assert!(text.contains("tesserad_api_keys_issued_total"), "{text}");
    assert!(!text.contains(&demo.key), "no secret in metrics");
}

async fn sigterm_shuts_down_cleanly(backend: Backend) {
    let mut server = Server::start(backend).await;
    let status = std::process::Command::new("kill")
        .args(["-TERM", &server.pid().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let exit = server.wait();
    assert!(
        exit.success(),
        "tesserad exited with {exit:?} after SIGTERM"
    );
}

async fn json_logs_carry_no_secrets(backend: Backend) {
    let server = Server::start_with(backend, &["--log-format", "json"]).await;
    let demo = server.demo_account().await;
    server.get("/v1/me", demo.auth().as_deref()).await;
    server
        .get("/v1/me", Some("token eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0."))
        .await;
    let revoked = server.admin(&["api-key", "create", "--account", &demo.email]);
    server.admin(&["api-key", "revoke", revoked["id"].as_str().unwrap()]);
    server
        .get(
            "/v1/me",
            Some(&format!("token {}", revoked["key"].as_str().unwrap())),
        )
        .await;
    let logs = server.logs();
    let first = logs.lines().next().expect("some log lines");
    let parsed: serde_json::Value = serde_json::from_str(first).expect("JSON log lines");
    assert!(parsed["level"].is_string(), "{first}");
    let (_, _, signature) = crate::support::jws_parts(&demo.key);
    assert!(!logs.contains(&signature), "an API key leaked into the log");
    assert!(
        !logs.contains(&server.master_key),
        "the master key leaked into the log"
    );
}
