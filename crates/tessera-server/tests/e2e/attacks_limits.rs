//! Named attacks that limits stop, each a test against the real binary on
//! SQLite and PostgreSQL (issue 17 §6, the part of the attack list about
//! guessing and exhausting). Each names the section it answers:
//!
//! | attack | test | reference |
//! |---|---|---|
//! | slowloris: headers a byte a second | [`slowloris_is_cut_off_at_the_header_deadline`] | RFC 9112 §9.5 (timeouts); RFC 4732 (denial of service) |
//! | oversized inputs: head, header count, URI, body | [`oversized_inputs_are_refused_before_they_are_read`] | RFC 9110 §5.4 (field limits); RFC 6585 §5 (431) |
//! | user-code brute force, in parallel, from one address | [`user_code_guesses_get_exactly_the_limit`] | RFC 8628 §5.1; RFC 9700 §4.13 (forwarded addresses) |
//! | one-time code brute force, in parallel | [`one_time_code_guesses_in_parallel_burn_the_code`] | RFC 6749 §10.10 |
//! | password spraying: one password, many accounts | [`password_spraying_pauses_the_address_not_the_accounts`] | RFC 6749 §10.10; RFC 9700 §4.13 |
//! | guessing client secrets at the token endpoint, in parallel | [`token_endpoint_guesses_get_exactly_the_limit`] | RFC 6749 §10.10 |
//! | the same guesses at introspection, in parallel | [`introspection_guesses_get_exactly_the_limit`] | RFC 6749 §10.10; RFC 7662 §4 |
//!
//! The per-address tests run behind a trusted proxy (`X-Forwarded-For` from
//! 127.0.0.1), so several attackers and bystanders can be told apart.

use crate::browser::{PASSWORD, sign_in_with_code};
use crate::connections::{connect, read_until_closed};
use crate::oauth_support as oauth;
use crate::support::{Backend, Server};
use futures_util::future::join_all;
use reqwest::StatusCode;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};
use tessera_testkit::{Browser, all_at_once};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

backend_tests!(
    slowloris_is_cut_off_at_the_header_deadline,
    oversized_inputs_are_refused_before_they_are_read,
    user_code_guesses_get_exactly_the_limit,
    one_time_code_guesses_in_parallel_burn_the_code,
    password_spraying_pauses_the_address_not_the_accounts,
    token_endpoint_guesses_get_exactly_the_limit,
    introspection_guesses_get_exactly_the_limit,
);

/// A server behind a (pretend) proxy on 127.0.0.1, so that `X-Forwarded-For`
/// names the client; `extra` TOML lines are added to its config.
pub async fn behind_proxy(backend: Backend, extra: &str) -> (Server, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("tesserad.toml");
    let toml = format!(
        "rate_limit_trust_forwarded_for = true\ntrusted_proxies = [\"127.0.0.1\"]\n{extra}"
    );
    std::fs::write(&config, toml).unwrap();
    let server = Server::start_with(backend, &["--config", config.to_str().unwrap()]).await;
    (server, dir)
}

/// How many answers had each status.
fn tally(statuses: impl IntoIterator<Item = StatusCode>) -> BTreeMap<u16, usize> {
    let mut counts = BTreeMap::new();
    for status in statuses {
        *counts.entry(status.as_u16()).or_insert(0) += 1;
    }
    counts
}

/// A client sends a request's headers one byte a second, the classic
/// slowloris: with `--header-read-timeout 2s` the server closes the connection
/// 2 s after the first byte, without an answer, and keeps serving others.
async fn slowloris_is_cut_off_at_the_header_deadline(backend: Backend) {
    let server = Server::start_with(backend, &["--header-read-timeout", "2s"]).await;
    let mut stream = connect(&server).await;
    let started = Instant::now();
    let trickle = b"GET /healthz HTTP/1.1\r\nHost: tesserad\r\nX-Slow: aaaaaaaaaaaaaaaaaaaa";
    let (mut reader, mut writer) = stream.split();
    let mut received = Vec::new();
    let closed = async {
        let mut buf = [0u8; 1024];
        loop {
            match reader.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => received.extend_from_slice(&buf[..n]),
            }
        }
    };
    let sending = async {
        for byte in trickle {
            if writer.write_all(&[*byte]).await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        // Out of bytes before the server acted: it never will.
        std::future::pending::<()>().await;
    };
    tokio::select! {
        () = closed => {}
        () = sending => {}
        () = tokio::time::sleep(Duration::from_secs(15)) => panic!("the slow sender kept its connection"),
    }
    let held = started.elapsed();
    assert!(
        received.is_empty(),
        "{:?}",
        String::from_utf8_lossy(&received)
    );
    assert!(
        (Duration::from_millis(1900)..Duration::from_secs(4)).contains(&held),
        "closed after {held:?}, expected 2 s after the first byte"
    );
    assert_eq!(server.get("/healthz", None).await.status(), 200);
    let metrics = server.get("/metrics", None).await.text().await.unwrap();
    assert!(
        metrics.contains(r#"tesserad_connection_timeouts_total{phase="headers"} 1"#),
        "{metrics}"
    );
}

/// Inputs too large to be honest are refused with a status that says which
/// limit they broke, and without the server reading (or waiting for) them:
/// a head over 32 KiB or with too many fields, a URI over the head limit, a
/// declared body over 64 KiB (answered before a byte of it is sent), and a
/// chunked body that grows past 64 KiB.
async fn oversized_inputs_are_refused_before_they_are_read(backend: Backend) {
    let server = Server::start(backend).await;
    let status_of = |request: Vec<u8>| {
        let server = &server;
        async move {
            let mut stream = connect(server).await;
            // The server may answer and close before it has read everything.
            let _ = stream.write_all(&request).await;
            let answer = read_until_closed(&mut stream, Duration::from_secs(10)).await;
            let answer = String::from_utf8_lossy(&answer).into_owned();
            answer.lines().next().unwrap_or_default().to_owned()
        }
    };
    let big_header = format!(
        "GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\nX-Big: {}\r\n\r\n",
        "a".repeat(40 * 1024)
    );
    assert_eq!(
        status_of(big_header.into_bytes()).await,
        "HTTP/1.1 431 Request Header Fields Too Large"
    );
    let many: String = (0..200).map(|i| format!("X-{i}: a\r\n")).collect();
    let many_headers =
        format!("GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n{many}\r\n");
    assert_eq!(
        status_of(many_headers.into_bytes()).await,
        "HTTP/1.1 431 Request Header Fields Too Large"
    );
    let long_uri = format!(
        "GET /healthz?{} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
        "a".repeat(40 * 1024)
    );
    let status = status_of(long_uri.into_bytes()).await;
    assert!(
        status == "HTTP/1.1 431 Request Header Fields Too Large"
            || status == "HTTP/1.1 414 URI Too Long",
        "{status}"
    );

    // Declared too large: refused at once, nothing of the body sent.
    for path in ["/oauth/token", "/v1/auth/otp", "/signin/password"] {
        let head = format!(
            "POST {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 100000000\r\n\r\n"
        );
        let started = Instant::now();
        let status = status_of(head.into_bytes()).await;
        assert_eq!(status, "HTTP/1.1 400 Bad Request", "{path}");
        assert!(started.elapsed() < Duration::from_secs(5), "{path}");
    }
    // Chunked, so the size shows only while reading.
    let chunk = format!("10000\r\n{}\r\n", "a".repeat(0x10000));
    let chunked = format!(
        "POST /oauth/token HTTP/1.1\r\nHost: t\r\nConnection: close\r\nContent-Type: application/x-www-form-urlencoded\r\nTransfer-Encoding: chunked\r\n\r\n{chunk}{chunk}0\r\n\r\n"
    );
    assert_eq!(
        status_of(chunked.into_bytes()).await,
        "HTTP/1.1 400 Bad Request"
    );
    assert_eq!(server.get("/healthz", None).await.status(), 200);
}

/// Thirty wrong user codes typed at once from one address: exactly the limit
/// (10) are looked up, the rest refused, and the address stays refused even
/// for a right code; a user at another address behind the same proxy is not
/// affected and connects the device.
async fn user_code_guesses_get_exactly_the_limit(backend: Backend) {
    let (server, _config) = behind_proxy(backend, "").await;
    let demo = server.demo_account().await;
    let client = oauth::public_app(&server, &demo.email, "device-cli");
    let (status, _, device) = oauth::post_form(
        &server,
        "/oauth/device_authorization",
        &[("client_id", client.as_str())],
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let user_code = device["user_code"].as_str().unwrap().to_owned();

    let attacker = Browser::new(&server.url).at("203.0.113.66");
    sign_in_with_code(&attacker, &server, &demo.email, 0);
    let csrf = attacker.get("/device").csrf();
    let guesses = (0..30).map(|i| {
        let guess = format!("BCDF-{}", ["GHJK", "GHJL", "GHJM"][i % 3]);
        let (attacker, csrf) = (&attacker, &csrf);
        move || {
            let form = [("csrf", csrf.as_str()), ("user_code", guess.as_str())];
            attacker.post_shared("/device", &form).status
        }
    });
    let statuses = all_at_once(guesses);
    assert_eq!(
        tally(statuses),
        BTreeMap::from([(404, 10), (429, 20)]),
        "exactly the guess limit is looked up"
    );
    let form = [("csrf", csrf.as_str()), ("user_code", user_code.as_str())];
    assert_eq!(
        attacker.post("/device", &form).status,
        StatusCode::TOO_MANY_REQUESTS
    );

    let owner = Browser::new(&server.url).at("198.51.100.20");
    sign_in_with_code(&owner, &server, &demo.email, 1);
    let csrf = owner.get("/device").csrf();
    let form = [("csrf", csrf.as_str()), ("user_code", user_code.as_str())];
    let connected = owner.post("/device", &form);
    assert_eq!(connected.status, StatusCode::OK, "{}", connected.html);
}

/// Twenty wrong one-time codes for one address at once: only five are ever
/// compared (the tries are counted in the same statement that reads the
/// code), after which the code is burnt and the right one fails too.
async fn one_time_code_guesses_in_parallel_burn_the_code(backend: Backend) {
    let (server, _config) =
        behind_proxy(backend, "[rate_limit_endpoints]\n\"/v1/auth/otp\" = 1000\n").await;
    let demo = server.demo_account().await;
    let post = |path: &'static str, body: serde_json::Value| {
        let server = &server;
        async move {
            let response = (server.http().post(server.endpoint(path)))
                .json(&body)
                .send()
                .await
                .unwrap();
            response.status()
        }
    };
    let requested = post("/v1/auth/otp", serde_json::json!({ "email": demo.email })).await;
    assert_eq!(requested, StatusCode::ACCEPTED);
    let code = server.otp_code_nth(&demo.email, 0);
    let wrong: u32 = code.parse().unwrap();
    let guesses = (1..=20).map(|i| {
        let guess = format!("{:06}", (wrong + i) % 1_000_000);
        post(
            "/v1/auth/otp/verify",
            serde_json::json!({ "email": demo.email, "code": guess }),
        )
    });
    let statuses = join_all(guesses).await;
    assert_eq!(tally(statuses), BTreeMap::from([(401, 20)]));
    let right = serde_json::json!({ "email": demo.email, "code": code });
    assert_eq!(
        post("/v1/auth/otp/verify", right).await,
        StatusCode::UNAUTHORIZED
    );
}

/// One password tried against 30 accounts at once from one address (password
/// spraying: no account sees more than one failure, so the per-account limit
/// never fires): exactly 20 are checked, the rest and every later attempt from
/// that address pause, the right password included; the accounts themselves
/// are not locked: their owners sign in from elsewhere.
async fn password_spraying_pauses_the_address_not_the_accounts(backend: Backend) {
    let (server, _config) = behind_proxy(backend, "").await;
    let victim = server.demo_account().await;
    let password = PASSWORD;
    let set = server.set_password(&victim.email, password);
    assert!(
        set.status.success(),
        "{}",
        String::from_utf8_lossy(&set.stderr)
    );
    let sprayer = Browser::new(&server.url).at("203.0.113.99");
    let csrf = sprayer.get("/signin").csrf();
    let emails: Vec<String> = (0..30).map(|i| format!("user{i}@example.com")).collect();
    let attempts = emails.iter().map(|email| {
        let (sprayer, csrf) = (&sprayer, &csrf);
        move || {
            let form = [
                ("csrf", csrf.as_str()),
                ("email", email),
                ("password", "Summer2026!"),
            ];
            let html = sprayer.post_shared("/signin/password", &form).html;
            if html.contains("Too many failed attempts") {
                "paused"
            } else if html.contains("do not match") {
                "checked"
            } else {
                panic!("unexpected page: {html}")
            }
        }
    });
    let outcomes = all_at_once(attempts);
    let checked = outcomes.iter().filter(|o| **o == "checked").count();
    assert_eq!(checked, 20, "{outcomes:?}");
    let form = [
        ("csrf", csrf.as_str()),
        ("email", &victim.email),
        ("password", password),
    ];
    let paused = sprayer.post("/signin/password", &form);
    assert_eq!(paused.status, StatusCode::UNAUTHORIZED);
    assert!(
        paused.html.contains("Too many failed attempts"),
        "{}",
        paused.html
    );

    let owner = Browser::new(&server.url).at("198.51.100.30");
    let csrf = owner.get("/signin").csrf();
    let form = [
        ("csrf", csrf.as_str()),
        ("email", &victim.email),
        ("password", password),
    ];
    assert_eq!(
        owner.post("/signin/password", &form).status,
        StatusCode::SEE_OTHER,
        "the owner signs in from elsewhere"
    );
}

/// Thirty wrong client secrets at once from one address, with a limit of 5:
/// exactly 5 are checked (401), 25 refused (429); the app's own grants from
/// another address go on.
async fn token_endpoint_guesses_get_exactly_the_limit(backend: Backend) {
    let (server, _config) = behind_proxy(backend, "rate_limit_per_ip = 5\n").await;
    let demo = server.demo_account().await;
    let app = oauth::confidential_app(&server, &demo.email, &[]);
    let guess = |from: &'static str, secret: String| {
        let (server, id) = (&server, app.client_id.clone());
        async move {
            (server.http().post(server.endpoint("/oauth/token")))
                .header("x-forwarded-for", from)
                .basic_auth(id, Some(secret))
                .form(&[("grant_type", "client_credentials")])
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    let guesses = (0..30).map(|i| guess("203.0.113.7", format!("guess-{i}")));
    let statuses = join_all(guesses).await;
    assert_eq!(tally(statuses), BTreeMap::from([(401, 5), (429, 25)]));
    assert_eq!(
        guess("203.0.113.7", app.client_secret.clone()).await,
        StatusCode::TOO_MANY_REQUESTS
    );
    for _ in 0..10 {
        let status = guess("198.51.100.40", app.client_secret.clone()).await;
        assert_eq!(status, StatusCode::OK);
    }
}

/// The token endpoint's test at `/oauth/introspect`, which checks the client
/// secret the same way: thirty wrong secrets at once from one address, with a
/// limit of 5, get exactly 5 checks (401) and 25 refusals (429). The guesses
/// share the token endpoint's window, so the address gets no token either;
/// the app introspects from another address.
async fn introspection_guesses_get_exactly_the_limit(backend: Backend) {
    let (server, _config) = behind_proxy(backend, "rate_limit_per_ip = 5\n").await;
    let demo = server.demo_account().await;
    let app = oauth::confidential_app(&server, &demo.email, &[]);
    let send = |path: &'static str, from: &'static str, secret: String| {
        let (server, id) = (&server, app.client_id.clone());
        let form: &[(&str, &str)] = match path {
            "/oauth/token" => &[("grant_type", "client_credentials")],
            _ => &[("token", "rt_unknown")],
        };
        async move {
            (server.http().post(server.endpoint(path)))
                .header("x-forwarded-for", from)
                .basic_auth(id, Some(secret))
                .form(form)
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    let guess = |i| send("/oauth/introspect", "203.0.113.8", format!("guess-{i}"));
    let statuses = join_all((0..30).map(guess)).await;
    assert_eq!(tally(statuses), BTreeMap::from([(401, 5), (429, 25)]));
    for path in ["/oauth/introspect", "/oauth/token"] {
        assert_eq!(
            send(path, "203.0.113.8", app.client_secret.clone()).await,
            StatusCode::TOO_MANY_REQUESTS,
            "{path}"
        );
    }
    for _ in 0..10 {
        let status = send(
            "/oauth/introspect",
            "198.51.100.41",
            app.client_secret.clone(),
        )
        .await;
        assert_eq!(status, StatusCode::OK);
    }
}
