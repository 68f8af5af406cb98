//! SMTP over TLS trusts the OS's CA certificates, or `SSL_CERT_FILE` instead: a
//! loopback SMTPS relay with a throwaway CA's certificate gets the one-time code
//! when `SSL_CERT_FILE` names that CA, and is refused without it, with a log line
//! that names the certificate problem and the fix.

use crate::support::{Backend, Database, Server, TESSERAD, TestCertificate, master_key};
use reqwest::StatusCode;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _, BufReader};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls;

/// What the relay saw: a delivered message, or a failed TLS handshake.
type Seen = Result<String, String>;

/// An SMTPS relay (TLS from the first byte) on a loopback port, with a leaf
/// certificate for 127.0.0.1 issued by a CA made for this test.
struct Relay {
    url: String,
    ca_pem: String,
    seen: mpsc::UnboundedReceiver<Seen>,
}

impl Relay {
    async fn start() -> Self {
        let certificate = TestCertificate::for_loopback();
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::aws_lc_rs::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![certificate.cert_der.clone()],
            rustls::pki_types::PrivateKeyDer::Pkcs8(certificate.key_der.clone().into()),
        )
        .unwrap();
        let acceptor = TlsAcceptor::from(Arc::new(config));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("smtps://{}", listener.local_addr().unwrap());
        let (tx, seen) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let (acceptor, tx) = (acceptor.clone(), tx.clone());
                tokio::spawn(async move {
                    match acceptor.accept(tcp).await {
                        Ok(tls) => session(tls, tx).await,
                        Err(e) => drop(tx.send(Err(e.to_string()))),
                    }
                });
            }
        });
        Self {
            url,
            ca_pem: certificate.ca_pem,
            seen,
        }
    }

    /// The next thing the relay saw; a bound, not a timing assertion.
    async fn next(&mut self) -> Seen {
        tokio::time::timeout(Duration::from_secs(30), self.seen.recv())
            .await
            .expect("the relay saw nothing within 30 s")
            .expect("relay running")
    }
}

/// The SMTP conversation lettre has: EHLO, MAIL, RCPT, DATA, then RSET/QUIT.
async fn session<S>(stream: S, delivered: mpsc::UnboundedSender<Seen>)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let (read, mut write) = tokio::io::split(stream);
    let mut lines = BufReader::new(read).lines();
    if write.write_all(b"220 relay ESMTP\r\n").await.is_err() {
        return;
    }
    while let Ok(Some(line)) = lines.next_line().await {
        let command = line.to_ascii_uppercase();
        let reply: &[u8] = if command.starts_with("DATA") {
            if write
                .write_all(b"354 end with <CRLF>.<CRLF>\r\n")
                .await
                .is_err()
            {
                return;
            }
            let mut message = String::new();
            while let Ok(Some(line)) = lines.next_line().await {
                if line == "." {
                    break;
                }
                message.push_str(&line);
                message.push('\n');
            }
            let _ = delivered.send(Ok(message));
            b"250 queued\r\n"
        } else if command.starts_with("QUIT") {
            let _ = write.write_all(b"221 bye\r\n").await;
            return;
        } else {
            // EHLO, MAIL FROM, RCPT TO, RSET, NOOP
            b"250 ok\r\n"
        };
        if write.write_all(reply).await.is_err() {
            return;
        }
    }
}

async fn request_code(server: &Server, email: &str) {
    let response = server
        .http()
        .post(server.endpoint("/v1/auth/otp"))
        .json(&serde_json::json!({ "email": email }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::ACCEPTED);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn smtps_relay_with_a_private_ca_is_trusted_through_ssl_cert_file() {
    let mut relay = Relay::start().await;
    let db = Database::create(Backend::Sqlite);
    let ca_file = db.dir().join("company-ca.pem");
    std::fs::write(&ca_file, &relay.ca_pem).unwrap();
    let server = Server::start_on_env(
        db,
        master_key(),
        &["--smtp-url", &relay.url],
        &[("SSL_CERT_FILE", ca_file.to_str().unwrap())],
    );
    let demo = server.demo_account().await;
    request_code(&server, &demo.email).await;
    let message = relay.next().await.expect("delivered over TLS");
    assert!(message.contains(&demo.email), "{message}");
    assert!(message.contains("Your Tessera code"), "{message}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn smtps_relay_with_an_unknown_ca_is_refused_and_the_log_says_why() {
    let mut relay = Relay::start().await;
    let server = Server::start_on_env(
        Database::create(Backend::Sqlite),
        master_key(),
        &["--smtp-url", &relay.url, "--log-format", "json"],
        &[],
    );
    let demo = server.demo_account().await;
    request_code(&server, &demo.email).await;
    let refused = relay.next().await.expect_err("no message without trust");
    assert!(!refused.is_empty());
    // The failure is logged after the relay hung up: poll the log (bounded).
    let mut line = None;
    for _ in 0..200 {
        line = server
            .logs()
            .lines()
            .find(|l| l.contains("sending a one-time code failed"))
            .map(str::to_owned);
        if line.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let line = line.expect("the failed delivery is logged");
    assert!(line.contains("UnknownIssuer"), "{line}");
    assert!(line.contains("SSL_CERT_FILE"), "{line}");
    let entry: serde_json::Value = serde_json::from_str(&line).unwrap();
    assert!(
        entry["span"]["id"]
            .as_str()
            .is_some_and(|id| !id.is_empty()),
        "logged with the request's id: {line}"
    );
}

/// A `SSL_CERT_FILE` that cannot be read stops the server at start-up (usage
/// error) instead of refusing every delivery later.
#[test]
fn an_unreadable_ssl_cert_file_is_a_startup_error() {
    let dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(TESSERAD)
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--smtp-url",
            "smtps://127.0.0.1:1",
        ])
        .arg("--database")
        .arg(dir.path().join("t.db"))
        .env("TESSERAD_MASTER_KEY", master_key())
        .env("SSL_CERT_FILE", dir.path().join("missing.pem"))
        .env_remove("TESSERAD_CONFIG")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("SSL_CERT_FILE"), "{stderr}");
    assert!(stderr.contains("missing.pem"), "{stderr}");
}
