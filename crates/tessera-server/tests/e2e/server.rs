//! Operations: health, readiness, metrics (open, behind a token, on a listener of
//! their own), request ids, JWKS, graceful shutdown.

use crate::support::{Backend, Database, Server, json};
use reqwest::StatusCode;

backend_tests!(
    healthz_metrics_jwks,
    sigterm_shuts_down_cleanly,
    json_logs_carry_no_secrets,
    ready_and_every_response_has_a_request_id
);

async fn healthz_metrics_jwks(backend: Backend) {
    let server = Server::start(backend).await;
    let demo = server.demo_account().await;
    let health = server.get("/healthz", None).await;
    assert_eq!(health.status(), StatusCode::OK);
    assert_eq!(json(health).await["status"], "ok");
    // The series' handles are made on a route's first request and reused after.
    for _ in 0..3 {
        server.get("/v1/me", demo.auth().as_deref()).await;
    }
    server.get("/v1/me", None).await;

    let jwks = json(server.get("/.well-known/jwks.json", None).await).await;
    let key = &jwks["keys"][0];
    assert_eq!(key["kty"], "OKP");
    assert_eq!(key["crv"], "Ed25519");
    assert_eq!(key["alg"], "EdDSA");
    assert!(key.get("d").is_none(), "never the private half");

    let text = server.get("/metrics", None).await.text().await.unwrap();
    assert!(
        text.contains(r#"tesserad_http_requests_total{route="/v1/me",status="200"} 3"#),
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

async fn ready_and_every_response_has_a_request_id(backend: Backend) {
    let server = Server::start(backend).await;
    let ready = server.get("/readyz", None).await;
    assert_eq!(ready.status(), StatusCode::OK);
    assert_eq!(json(ready).await["status"], "ok");

    let mut ids = std::collections::HashSet::new();
    for (path, status) in [
        ("/healthz", StatusCode::OK),
        ("/v1/me", StatusCode::UNAUTHORIZED),
        ("/no/such/path", StatusCode::NOT_FOUND),
        ("/openapi.json", StatusCode::OK),
    ] {
        // A client's own id is not taken unless the server trusts its proxy.
        let response = server
            .http()
            .get(server.endpoint(path))
            .header("x-request-id", "chosen-by-the-client")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), status, "{path}");
        let id = response.headers()["x-request-id"]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(uuid::Uuid::parse_str(&id).is_ok(), "{path}: {id}");
        assert!(ids.insert(id), "ids repeat");
    }
}

/// Behind a proxy (`--trust-request-id`) the proxy's id is kept, returned and
/// logged with the request; a malformed one is replaced.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trusted_proxys_request_id_is_returned_and_logged() {
    let db = Database::create(Backend::Sqlite);
    let server = Server::start_on_env(
        db,
        crate::support::master_key(),
        &["--trust-request-id", "--log-format", "json"],
        &[("RUST_LOG", "info,tessera_server=debug")],
    );
    let send = async |id: &str| {
        let response = server
            .http()
            .get(server.endpoint("/v1/projects"))
            .header("x-request-id", id)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        response.headers()["x-request-id"]
            .to_str()
            .unwrap()
            .to_owned()
    };
    assert_eq!(send("lb-7f3a9c-0001").await, "lb-7f3a9c-0001");
    let replaced = send("not valid; has spaces").await;
    assert!(uuid::Uuid::parse_str(&replaced).is_ok(), "{replaced}");
    let too_long = "a".repeat(129);
    assert_ne!(send(&too_long).await, too_long);

    let logs = server.logs();
    let line = logs
        .lines()
        .find(|l| l.contains("lb-7f3a9c-0001"))
        .unwrap_or_else(|| panic!("the request id is not in the log:\n{logs}"));
    let entry: serde_json::Value = serde_json::from_str(line).unwrap();
    assert_eq!(entry["span"]["id"], "lb-7f3a9c-0001", "{line}");
    assert_eq!(entry["fields"]["route"], "/v1/projects", "{line}");
    assert!(logs.contains(&replaced), "the generated id is logged too");
}

/// `metrics_token` guards /metrics; `--metrics-listen` moves it (with the health
/// checks) to an address of its own, and the public listener answers 404.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_behind_a_token_on_their_own_listener() {
    let token = "9f2c41d7e0a35b68c1f4a9e27d3b5c80";
    let db = Database::create(Backend::Sqlite);
    let server = Server::start_on_env(
        db,
        crate::support::master_key(),
        &["--metrics-listen", "127.0.0.1:0"],
        &[("TESSERAD_METRICS_TOKEN", token)],
    );
    let metrics_url = server.metrics_url.clone().expect("the metrics listener");
    let public = server
        .get("/metrics", Some(&format!("Bearer {token}")))
        .await;
    assert_eq!(public.status(), StatusCode::NOT_FOUND);

    let scrape = async |authorization: Option<String>| {
        let mut request = server.http().get(format!("{metrics_url}/metrics"));
        if let Some(value) = authorization {
            request = request.header("authorization", value);
        }
        request.send().await.unwrap()
    };
    for refused in [
        None,
        Some("Bearer wrong-token-of-some-length".to_owned()),
        Some(format!("token {token}")),
    ] {
        let response = scrape(refused.clone()).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{refused:?}");
        assert!(response.headers().contains_key("www-authenticate"));
        assert!(response.headers().contains_key("x-request-id"));
        let body = json(response).await;
        assert!(
            body["message"].as_str().unwrap().contains("metrics_token"),
            "{body}"
        );
    }
    let allowed = scrape(Some(format!("Bearer {token}"))).await;
    assert_eq!(allowed.status(), StatusCode::OK);
    let text = allowed.text().await.unwrap();
    assert!(text.contains("tesserad_http_requests_total"), "{text}");
    assert!(text.contains(r#"route="/metrics",status="401""#), "{text}");
    let ready = server
        .http()
        .get(format!("{metrics_url}/readyz"))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), StatusCode::OK);
    assert!(
        !server.logs().contains(token),
        "the metrics token leaked into the log"
    );

    // `--help` never shows the token, even when it is set.
    let help = std::process::Command::new(crate::support::TESSERAD)
        .args(["serve", "--help"])
        .env("TESSERAD_METRICS_TOKEN", token)
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&help.stdout);
    assert!(help.contains("--metrics-token"), "{help}");
    assert!(!help.contains(token), "{help}");
}

/// A one-time code still on its way to the relay when SIGTERM comes is
/// delivered before tesserad exits (the client was told it is coming): the
/// relay holds its greeting until the server has logged the signal.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_code_on_its_way_at_sigterm_is_still_delivered() {
    use std::time::Duration;
    use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _, BufReader};
    use tokio::sync::oneshot;
    let relay = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let smtp_url = format!("smtp://{}", relay.local_addr().unwrap());
    let (connected_tx, connected) = oneshot::channel::<()>();
    let (release, released) = oneshot::channel::<()>();
    let (seen_tx, seen) = oneshot::channel::<String>();
    tokio::spawn(async move {
        let (tcp, _) = relay.accept().await.unwrap();
        let _ = connected_tx.send(());
        let _ = released.await;
        let (read, mut write) = tcp.into_split();
        let mut lines = BufReader::new(read).lines();
        let (mut message, mut in_data) = (String::new(), false);
        let _ = write.write_all(b"220 relay ESMTP\r\n").await;
        while let Ok(Some(line)) = lines.next_line().await {
            if in_data {
                if line == "." {
                    in_data = false;
                    let _ = write.write_all(b"250 queued\r\n").await;
                } else {
                    message.push_str(&line);
                    message.push('\n');
                }
                continue;
            }
            let verb = line.get(..4).unwrap_or_default().to_ascii_uppercase();
            let reply: &[u8] = match verb.as_str() {
                "DATA" => {
                    in_data = true;
                    b"354 go on\r\n"
                }
                "QUIT" => b"221 bye\r\n",
                _ => b"250 ok\r\n",
            };
            let _ = write.write_all(reply).await;
        }
        let _ = seen_tx.send(message);
    });

    let db = Database::create(Backend::Sqlite);
    let mut server = Server::start_on(db, crate::support::master_key(), &["--smtp-url", &smtp_url]);
    ask_for_a_code(&server).await;
    // Bounds for a hang, not timing assertions.
    let bound = Duration::from_secs(30);
    tokio::time::timeout(bound, connected)
        .await
        .unwrap()
        .unwrap();
    terminate_and_wait_for_the_drain(&server, bound).await;
    release.send(()).unwrap();
    let exit = tokio::task::block_in_place(|| server.wait());
    let message = tokio::time::timeout(bound, seen).await.unwrap().unwrap();
    assert!(message.contains("Your one-time code is"), "{message:?}");
    assert!(exit.success(), "tesserad exited with {exit:?}");
}

/// A second SIGINT during the drain stops tesserad at once (exit 130): here a
/// relay that never answers holds a code's delivery, and the drain timeout is
/// far beyond the test's bound.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_signal_stops_the_drain() {
    use std::os::unix::process::ExitStatusExt as _;
    use std::time::Duration;
    let relay = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let smtp_url = format!("smtp://{}", relay.local_addr().unwrap());
    let db = Database::create(Backend::Sqlite);
    let args = ["--smtp-url", &smtp_url, "--drain-timeout", "10m"];
    let mut server = Server::start_on(db, crate::support::master_key(), &args);
    ask_for_a_code(&server).await;
    let bound = Duration::from_secs(30);
    let _held = tokio::time::timeout(bound, relay.accept())
        .await
        .unwrap()
        .unwrap();
    terminate_and_wait_for_the_drain(&server, bound).await;
    signal(&server, "-INT");
    let (tx, rx) = tokio::sync::oneshot::channel();
    let waiter = std::thread::spawn(move || {
        let exit = server.wait();
        let _ = tx.send((exit, server.logs()));
        server
    });
    let (exit, logs) = tokio::time::timeout(bound, rx)
        .await
        .expect("still draining after a second signal")
        .unwrap();
    assert_eq!(exit.code(), Some(130), "{exit:?} {:?}", exit.signal());
    assert!(logs.contains("second shutdown signal"), "{logs}");
    drop(waiter);
}

/// Asks for a one-time code for the demo account: answered at once, the mail
/// is sent after.
async fn ask_for_a_code(server: &Server) {
    let demo = server.demo_account().await;
    let asked = (server.http().post(server.endpoint("/v1/auth/otp")))
        .json(&serde_json::json!({ "email": demo.email }))
        .send()
        .await
        .unwrap();
    assert_eq!(asked.status(), StatusCode::ACCEPTED);
}

fn signal(server: &Server, name: &str) {
    let pid = server.pid().to_string();
    let status = std::process::Command::new("kill")
        .args([name, &pid])
        .status();
    assert!(status.unwrap().success());
}

/// SIGTERM, then waits (at most `bound`: a bound for a hang, not a timing
/// assertion) until tesserad says it is draining.
async fn terminate_and_wait_for_the_drain(server: &Server, bound: std::time::Duration) {
    signal(server, "-TERM");
    let start = std::time::Instant::now();
    while !server.logs().contains("shutdown signal received") {
        assert!(start.elapsed() < bound, "{}", server.logs());
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}
