//! The Tessera-specific flows (token URL, email one-time code) over a real
//! socket with the real [`UreqClient`], against a stub that records the
//! request and answers as tesserad does. The standard flows are proven
//! against a real authorization server in `oauth_interop.rs`.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::mpsc;
use tessera_client::oauth::{self, OAuthError, UreqClient};

/// A request as the stub saw it.
struct Seen {
    request_line: String,
    headers: Vec<String>,
    body: String,
}

impl Seen {
    fn header(&self, name: &str) -> Option<&str> {
        let prefix = format!("{name}: ");
        self.headers.iter().find_map(|h| {
            h.to_ascii_lowercase()
                .starts_with(&prefix)
                .then(|| h[prefix.len()..].trim())
        })
    }
}

/// Serves one request with `status` and a JSON `body`; returns the base URL
/// and where the request will be reported.
fn stub(status: &'static str, body: &'static str) -> (String, mpsc::Receiver<Seen>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        let mut reader = BufReader::new(stream);
        let mut request_line = String::new();
        reader.read_line(&mut request_line).unwrap();
        let mut headers = Vec::new();
        loop {
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            if line.trim().is_empty() {
                break;
            }
            headers.push(line.trim().to_owned());
        }
        let mut seen = Seen {
            request_line: request_line.trim().to_owned(),
            headers,
            body: String::new(),
        };
        let length: usize = seen
            .header("content-length")
            .map_or(0, |v| v.parse().unwrap());
        let mut buf = vec![0; length];
        reader.read_exact(&mut buf).unwrap();
        seen.body = String::from_utf8(buf).unwrap();
        let mut stream = reader.into_inner();
        write!(
            stream,
            "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
        .unwrap();
        tx.send(seen).unwrap();
    });
    (base, rx)
}

#[test]
fn session_token_posts_the_session_id_and_marks_level_0() {
    let (base, seen) = stub(
        "200 OK",
        r#"{"access_token":"at","token_type":"Bearer","expires_in":300}"#,
    );
    let url = format!("{base}/oauth/session-token");
    let token = oauth::session_token(&UreqClient::new(), &url, "sess_123").unwrap();
    assert_eq!(token.acr.as_deref(), Some(oauth::LEVEL_0_ACR));
    assert_eq!(token.expires_in, Some(300));
    let seen = seen.recv().unwrap();
    assert_eq!(seen.request_line, "POST /oauth/session-token HTTP/1.1");
    assert_eq!(
        seen.header("content-type"),
        Some("application/x-www-form-urlencoded")
    );
    assert_eq!(seen.body, "session_id=sess_123");
}

#[test]
fn used_session_is_a_rejection() {
    let (base, _seen) = stub(
        "400 Bad Request",
        r#"{"error":"invalid_grant","error_description":"session already used"}"#,
    );
    let err = oauth::session_token(&UreqClient::new(), &format!("{base}/s"), "sess").unwrap_err();
    assert!(err.is_invalid_grant(), "{err:?}");
}

#[test]
fn otp_request_and_verify() {
    let (base, seen) = stub("202 Accepted", r#"{"status":"sent"}"#);
    oauth::request_otp(&UreqClient::new(), &base, "dev@example.com").unwrap();
    let seen = seen.recv().unwrap();
    assert_eq!(seen.request_line, "POST /v1/auth/otp HTTP/1.1");
    assert_eq!(seen.header("content-type"), Some("application/json"));
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&seen.body).unwrap(),
        serde_json::json!({"email": "dev@example.com"})
    );

    let (base, seen) = stub(
        "200 OK",
        r#"{"id":"key_1","key":"lk_eyJ.new-key","scope":"THIRD_PARTY_OPERATION","expires_at":null}"#,
    );
    let created =
        oauth::verify_otp(&UreqClient::new(), &base, "dev@example.com", "123456").unwrap();
    assert_eq!(created.key.expose_secret(), "lk_eyJ.new-key");
    assert!(created.scope.contains("THIRD_PARTY_OPERATION"));
    let seen = seen.recv().unwrap();
    assert_eq!(seen.request_line, "POST /v1/auth/otp/verify HTTP/1.1");
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&seen.body).unwrap(),
        serde_json::json!({"email": "dev@example.com", "code": "123456"})
    );
}

#[test]
fn wrong_otp_is_an_api_rejection() {
    let (base, _seen) = stub(
        "400 Bad Request",
        r#"{"error":"invalid_otp","message":"Invalid OTP code"}"#,
    );
    let err =
        oauth::verify_otp(&UreqClient::new(), &base, "dev@example.com", "000000").unwrap_err();
    match err {
        OAuthError::ApiRejected { status, body, .. } => {
            assert_eq!(status, 400);
            assert_eq!(body.message, "Invalid OTP code");
        }
        other => panic!("{other:?}"),
    }
}
