//! Named attacks that limits stop, each a test against the real binary on
//! SQLite and PostgreSQL (issue 17 §6, the part of the attack list about
//! guessing and exhausting). Each names the section it answers:
//!
//! | attack | test | reference |
//! |---|---|---|
//! | slowloris: headers a byte a second | [`slowloris_is_cut_off_at_the_header_deadline`] | RFC 6819 §4.4.1.11 (resource exhaustion) |
//! | oversized inputs: head, header count, URI, body | [`oversized_inputs_are_refused_before_they_are_read`] | RFC 6819 §4.4.1.11 |

use crate::connections::{connect, read_until_closed};
use crate::support::{Backend, Server};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

backend_tests!(
    slowloris_is_cut_off_at_the_header_deadline,
    oversized_inputs_are_refused_before_they_are_read,
);

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
    assert!(received.is_empty(), "{:?}", String::from_utf8_lossy(&received));
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
    let many_headers = format!("GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n{many}\r\n");
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
