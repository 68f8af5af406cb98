//! Redis over TLS (`rediss://`): limits enforced through a `redis-server` that
//! only speaks TLS, its certificate checked against `SSL_CERT_FILE`; a
//! certificate that cannot be checked stops start-up (exit 2) with the fix, and
//! `#insecure` (redis-rs's "no check") is refused. The password stays out of
//! every message.

use crate::support::{
    Backend, Database, Server, TESSERAD, TestCertificate, config_error, master_key, redis_available,
};
use reqwest::StatusCode;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const PASSWORD: &str = "tls-test-redis-password";

/// A `redis-server` with a TLS port only, killed on drop.
struct TlsRedis {
    port: u16,
    dir: tempfile::TempDir,
    child: Child,
}

impl TlsRedis {
    fn start(certificate: &TestCertificate) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let file = |name: &str, text: &str| {
            let path = dir.path().join(name);
            std::fs::write(&path, text).unwrap();
            path.display().to_string()
        };
        let conf = file("redis.conf", &format!("requirepass {PASSWORD}\n"));
        let cert = file("server.crt", &certificate.cert_pem);
        let key = file("server.key", &certificate.key_pem);
        let ca = file("ca.pem", &certificate.ca_pem);
        let port = tessera_testkit::free_port();
        let child = Command::new("redis-server")
            .arg(&conf)
            .args(["--bind", "127.0.0.1", "--port", "0"])
            .args(["--tls-port", &port.to_string()])
            .args(["--tls-cert-file", &cert, "--tls-key-file", &key])
            .args(["--tls-ca-cert-file", &ca, "--tls-auth-clients", "no"])
            .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
            .arg("--dir")
            .arg(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server (Debian package redis-server; scripts/test installs it)");
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "redis-server never listened on {port}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Self { port, dir, child }
    }

    fn url(&self) -> String {
        format!("rediss://:{PASSWORD}@127.0.0.1:{}", self.port)
    }

    fn ca_file(&self) -> String {
        self.dir.path().join("ca.pem").display().to_string()
    }
}

impl Drop for TlsRedis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `tesserad serve` with the Redis limiter, expected to stop at start-up.
fn serve_fails(redis_url: &str, ssl_cert_file: Option<&str>) -> Output {
    let dir = tempfile::tempdir().unwrap();
    let mut command = Command::new(TESSERAD);
    command
        .args(["serve", "--listen", "127.0.0.1:0", "--database"])
        .arg(dir.path().join("t.db"))
        .args(["--rate-limit-backend", "redis"])
        .env("TESSERAD_REDIS_URL", redis_url)
        .env_remove("TESSERAD_CONFIG")
        .env_remove("SSL_CERT_FILE")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(file) = ssl_cert_file {
        command.env("SSL_CERT_FILE", file);
    }
    let mut child = command.spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            child.kill().unwrap();
            panic!("tesserad started although it should not have");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limits_are_enforced_over_tls_and_the_certificate_checked() {
    if !redis_available() {
        return;
    }
    let redis = TlsRedis::start(&TestCertificate::for_loopback());
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("limits.toml");
    std::fs::write(&config, "rate_limit_development = 3\n").unwrap();
    let ca = redis.ca_file();
    let url = redis.url();
    // `deny`: a limiter that could not reach Redis would answer 503.
    let server = Server::start_on_env(
        Database::create(Backend::Sqlite),
        master_key(),
        &[
            "--config",
            config.to_str().unwrap(),
            "--rate-limit-backend",
            "redis",
            "--rate-limit-unreachable",
            "deny",
        ],
        &[
            ("TESSERAD_REDIS_URL", url.as_str()),
            ("SSL_CERT_FILE", ca.as_str()),
        ],
    );
    let demo = server.demo_account().await;
    for remaining in [2, 1, 0] {
        let me = server.get("/v1/me", demo.auth().as_deref()).await;
        assert_eq!(me.status(), StatusCode::OK);
        let header = me.headers()["x-ratelimit-remaining"].to_str().unwrap();
        assert_eq!(header, remaining.to_string());
    }
    let refused = server.get("/v1/me", demo.auth().as_deref()).await;
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);

    // The test CA not trusted: start-up stops and says what to do.
    let untrusted = serve_fails(&url, None);
    let stderr = config_error(
        &untrusted,
        &["TLS certificate cannot be trusted", "SSL_CERT_FILE"],
    );
    assert!(!stderr.contains(PASSWORD), "{stderr}");

    // redis-rs's "no certificate check" is not an option.
    let insecure = serve_fails(&format!("{url}/#insecure"), Some(&ca));
    let stderr = config_error(&insecure, &["does not turn certificate checks off"]);
    assert!(!stderr.contains(PASSWORD), "{stderr}");

    // Plain text to the TLS port gets no answer: not a silent downgrade.
    let plain = format!("redis://:{PASSWORD}@127.0.0.1:{}", redis.port);
    let server = Server::start_on_env(
        Database::create(Backend::Sqlite),
        master_key(),
        &[
            "--rate-limit-backend",
            "redis",
            "--rate-limit-unreachable",
            "deny",
        ],
        &[("TESSERAD_REDIS_URL", plain.as_str())],
    );
    let demo = server.demo_account().await;
    let me = server.get("/v1/me", demo.auth().as_deref()).await;
    assert_eq!(me.status(), StatusCode::SERVICE_UNAVAILABLE);
}
