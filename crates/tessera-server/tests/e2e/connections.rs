//! The serve loop through the real binary (issue 17 §1): idle connections do
//! not lock new clients out, idle ones close and free their slot under the
//! connection cap, a slow body is cut off by the request timeout, and SIGTERM
//! drains; the `--metrics-listen` listener runs the same loop. Real time is the
//! point here, so the limits are set to a few seconds. (The slow-header attack
//! itself is in `attacks_limits`.)

use crate::support::{Backend, Database, Server, json};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

backend_tests!(
    hundreds_of_idle_connections_leave_room_for_a_new_client,
    at_the_cap_a_new_client_waits_for_an_idle_slot,
    at_the_cap_kept_alive_connections_give_way,
    at_the_cap_a_busy_connection_gives_way_after_its_answer,
    a_slow_body_is_answered_when_the_request_time_is_up,
    sigterm_finishes_requests_in_progress_and_closes_idle_connections,
    draining_gives_up_after_the_drain_timeout,
);

/// A raw connection to the server.
pub async fn connect(server: &Server) -> TcpStream {
    let addr = server.url.trim_start_matches("http://");
    TcpStream::connect(addr).await.expect("connect")
}

/// Reads until the server closes (or resets) the connection; the bytes read.
/// `bound` turns a hang into a failure; it is not what the tests measure.
pub async fn read_until_closed(stream: &mut TcpStream, bound: Duration) -> Vec<u8> {
    let mut received = Vec::new();
    let mut buf = [0u8; 4096];
    let outcome = tokio::time::timeout(bound, async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => received.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    assert!(
        outcome.is_ok(),
        "the connection stayed open for {bound:?}; received {:?}",
        String::from_utf8_lossy(&received)
    );
    received
}

/// One request on a connection; the start of the answer (its status line and
/// headers, and the body if it came with them).
async fn request(stream: &mut TcpStream, path: &str) -> String {
    let request = format!("GET {path} HTTP/1.1\r\nHost: tesserad\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut buf = vec![0u8; 8192];
    let n = tokio::time::timeout(Duration::from_secs(30), stream.read(&mut buf))
        .await
        .expect("an answer")
        .expect("read");
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

fn sigterm(server: &Server) {
    let status = std::process::Command::new("kill")
        .args(["-TERM", &server.pid().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

/// Waits until the listener is gone (draining has begun): connecting is refused.
async fn until_refused(server: &Server) {
    let addr = server.url.trim_start_matches("http://").to_owned();
    for _ in 0..200 {
        if TcpStream::connect(&addr).await.is_err() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("tesserad kept accepting connections after SIGTERM");
}

async fn metric(server: &Server, series: &str) -> f64 {
    let text = server.get("/metrics", None).await.text().await.unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {series} in:\n{text}"))
}

async fn hundreds_of_idle_connections_leave_room_for_a_new_client(backend: Backend) {
    let server = Server::start(backend).await;
    let demo = server.demo_account().await;
    let mut held = Vec::new();
    // Connections that never send a byte…
    for _ in 0..250 {
        held.push(connect(&server).await);
    }
    // …and kept-alive ones that asked once and then went quiet.
    for _ in 0..50 {
        let mut stream = connect(&server).await;
        assert!(
            request(&mut stream, "/healthz")
                .await
                .starts_with("HTTP/1.1 200")
        );
        held.push(stream);
    }
    let me = server.get("/v1/me", demo.auth().as_deref()).await;
    assert_eq!(me.status(), 200);
    assert_eq!(json(me).await["email"], demo.email.as_str());
    drop(held);
}

async fn at_the_cap_a_new_client_waits_for_an_idle_slot(backend: Backend) {
    let server = Server::start_with(
        backend,
        &["--max-connections", "3", "--header-read-timeout", "2s"],
    )
    .await;
    let opened = Instant::now();
    let mut idle = Vec::new();
    for _ in 0..3 {
        idle.push(connect(&server).await);
    }
    // The fourth is accepted by the kernel, but served only once a slot frees:
    // a connection that says nothing has the header read's time to start.
    let mut fourth = connect(&server).await;
    let answer = request(&mut fourth, "/healthz").await;
    let waited = opened.elapsed();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(
        waited >= Duration::from_millis(1900),
        "answered after {waited:?}, before any idle connection timed out"
    );
    for mut stream in idle {
        assert!(
            read_until_closed(&mut stream, Duration::from_secs(10))
                .await
                .is_empty()
        );
    }
    assert!(
        metric(
            &server,
            r#"tesserad_connection_timeouts_total{phase="new"}"#
        )
        .await
            >= 3.0
    );
}

/// A crowd that asked once on each connection and keeps them alive (a
/// request a minute would do) holds no slot against a newcomer: at the cap,
/// one connection at rest closes for it, long before its idle timeout, and
/// the others stay (a proxy's pool is not emptied for one client).
async fn at_the_cap_kept_alive_connections_give_way(backend: Backend) {
    let server = Server::start_with(backend, &["--max-connections", "3"]).await;
    let mut kept = Vec::new();
    for _ in 0..3 {
        let mut stream = connect(&server).await;
        assert!(
            request(&mut stream, "/healthz")
                .await
                .starts_with("HTTP/1.1 200")
        );
        kept.push(stream);
    }
    let started = Instant::now();
    let mut newcomer = connect(&server).await;
    let answer = request(&mut newcomer, "/healthz").await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "answered after {:?}",
        started.elapsed()
    );
    // The newcomer's slot was freed before it was served: the connection
    // that gave way is closed by now.
    let mut answered = 0;
    for stream in &mut kept {
        let write = "GET /healthz HTTP/1.1\r\nHost: tesserad\r\n\r\n";
        let _ = stream.write_all(write.as_bytes()).await;
        let mut buf = vec![0u8; 8192];
        let read = tokio::time::timeout(Duration::from_secs(30), stream.read(&mut buf))
            .await
            .expect("an answer or the end");
        if let Ok(n @ 1..) = read {
            assert!(buf[..n].starts_with(b"HTTP/1.1 200"));
            answered += 1;
        }
    }
    assert_eq!(answered, 2, "one kept-alive connection closed, two stayed");
}

/// A client that finds every slot in use by a request in progress is served
/// when the first of them is answered: that connection closes after its
/// answer instead of staying kept alive for its idle timeout.
async fn at_the_cap_a_busy_connection_gives_way_after_its_answer(backend: Backend) {
    let server = Server::start_with(backend, &["--max-connections", "1"]).await;
    // A request under way: its headers are not complete yet.
    let mut busy = connect(&server).await;
    busy.write_all(b"GET /healthz HTTP/1.1\r\nHost: tesserad\r\n")
        .await
        .unwrap();
    let started = Instant::now();
    let mut newcomer = connect(&server).await;
    newcomer
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: tesserad\r\n\r\n")
        .await
        .unwrap();
    busy.write_all(b"\r\n").await.unwrap();
    let answer = read_until_closed(&mut busy, Duration::from_secs(10)).await;
    assert!(answer.starts_with(b"HTTP/1.1 200"));
    let mut buf = vec![0u8; 8192];
    let n = tokio::time::timeout(Duration::from_secs(10), newcomer.read(&mut buf))
        .await
        .expect("the newcomer is served")
        .unwrap();
    assert!(buf[..n].starts_with(b"HTTP/1.1 200"));
    assert!(started.elapsed() < Duration::from_secs(10));
}

async fn a_slow_body_is_answered_when_the_request_time_is_up(backend: Backend) {
    let server = Server::start_with(backend, &["--request-timeout", "2s"]).await;
    for (path, content_type, expected) in [
        (
            "/v1/auth/otp",
            "application/json",
            r#""error":"request_timeout""#,
        ),
        (
            "/oauth/token",
            "application/x-www-form-urlencoded",
            r#""error":"invalid_request""#,
        ),
    ] {
        let mut stream = connect(&server).await;
        let started = Instant::now();
        let head = format!(
            "POST {path} HTTP/1.1\r\nHost: tesserad\r\nContent-Type: {content_type}\r\nContent-Length: 100\r\n\r\n{{"
        );
        stream.write_all(head.as_bytes()).await.unwrap();
        let answer =
            String::from_utf8(read_until_closed(&mut stream, Duration::from_secs(30)).await)
                .unwrap_or_default();
        let took = started.elapsed();
        // The client's bytes were late, not the server: 408, no Retry-After.
        assert!(answer.starts_with("HTTP/1.1 408"), "{path}: {answer}");
        assert!(
            answer.contains("did not arrive within 2 s"),
            "{path}: {answer}"
        );
        assert!(!answer.contains("\r\nretry-after:"), "{path}: {answer}");
        assert!(answer.contains(expected), "{path}: {answer}");
        assert!(
            (Duration::from_millis(1900)..Duration::from_secs(10)).contains(&took),
            "{path}: answered after {took:?}"
        );
    }
}

async fn sigterm_finishes_requests_in_progress_and_closes_idle_connections(backend: Backend) {
    let mut server = Server::start(backend).await;
    let demo = server.demo_account().await;
    let mut kept_alive = connect(&server).await;
    assert!(
        request(&mut kept_alive, "/healthz")
            .await
            .starts_with("HTTP/1.1 200")
    );
    let mut never_spoke = connect(&server).await;
    // A request in progress: its headers are in, half its body is not.
    let body = serde_json::json!({ "email": demo.email }).to_string();
    let (first, rest) = body.split_at(body.len() / 2);
    let mut uploading = upload_in_progress(&server, "/v1/auth/otp", body.len(), first).await;

    sigterm(&server);
    until_refused(&server).await;
    for stream in [&mut kept_alive, &mut never_spoke] {
        assert!(
            read_until_closed(stream, Duration::from_secs(10))
                .await
                .is_empty()
        );
    }
    uploading.write_all(rest.as_bytes()).await.unwrap();
    let answer =
        String::from_utf8(read_until_closed(&mut uploading, Duration::from_secs(10)).await)
            .unwrap();
    assert!(answer.starts_with("HTTP/1.1 202"), "{answer}");
    assert!(answer.contains("connection: close"), "{answer}");
    let exit = server.wait();
    assert!(exit.success(), "tesserad exited with {exit:?}");
}

async fn draining_gives_up_after_the_drain_timeout(backend: Backend) {
    let mut server = Server::start_with(backend, &["--drain-timeout", "1s"]).await;
    // A body that never completes, well inside the 30 s request timeout.
    let mut stuck = upload_in_progress(&server, "/v1/auth/otp", 100, "{").await;
    let asked = Instant::now();
    sigterm(&server);
    read_until_closed(&mut stuck, Duration::from_secs(20)).await;
    let exit = server.wait();
    let took = asked.elapsed();
    assert!(exit.success(), "tesserad exited with {exit:?}");
    assert!(
        (Duration::from_millis(900)..Duration::from_secs(10)).contains(&took),
        "stopped after {took:?}"
    );
    assert!(server.logs().contains("drain timeout"), "{}", server.logs());
}

/// A connection whose JSON request to `path` is in progress: its head and
/// `first` are in, the rest of its `length`-byte body is not. It asks
/// `Expect: 100-continue` and waits for the server's "100 Continue", which says
/// the handler is reading the body; sent without waiting, the head could still
/// be unread when the test signals, and the server would rightly close it at
/// once as a connection that never spoke.
async fn upload_in_progress(server: &Server, path: &str, length: usize, first: &str) -> TcpStream {
    let mut stream = connect(server).await;
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: tesserad\r\nContent-Type: application/json\r\nContent-Length: {length}\r\nExpect: 100-continue\r\n\r\n{first}"
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut interim = Vec::new();
    while !interim.ends_with(b"\r\n\r\n") {
        let mut byte = [0u8; 1];
        let read = tokio::time::timeout(Duration::from_secs(30), stream.read(&mut byte));
        assert_eq!(read.await.expect("100 Continue").unwrap(), 1);
        interim.push(byte[0]);
    }
    assert!(interim.starts_with(b"HTTP/1.1 100"), "{interim:?}");
    stream
}

/// `--metrics-listen` is served by the same loop, with the same limits: a
/// client trickling its headers there is cut off at the header deadline (and
/// counted), and a whole request gets its answer with a request id.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_metrics_listener_has_the_same_deadlines() {
    let db = Database::create(Backend::Sqlite);
    let args = [
        "--metrics-listen",
        "127.0.0.1:0",
        "--header-read-timeout",
        "1s",
    ];
    let server = Server::start_on(db, crate::support::master_key(), &args);
    let metrics_url = server.metrics_url.clone().expect("the metrics listener");
    let addr = metrics_url.trim_start_matches("http://");
    let mut slow = TcpStream::connect(addr).await.unwrap();
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: tesserad\r\nX-Slow: a")
        .await
        .unwrap();
    // Closed well before the idle timeout (75 s), without an answer; the
    // counter below says which deadline it was.
    let answer = read_until_closed(&mut slow, Duration::from_secs(10)).await;
    assert!(answer.is_empty(), "{}", String::from_utf8_lossy(&answer));

    let scrape = (server.http().get(format!("{metrics_url}/metrics")))
        .send()
        .await
        .unwrap();
    assert_eq!(scrape.status(), 200);
    assert!(scrape.headers().contains_key("x-request-id"));
    let text = scrape.text().await.unwrap();
    let series = r#"tesserad_connection_timeouts_total{phase="headers"} 1"#;
    assert!(text.lines().any(|l| l == series), "{text}");
}
