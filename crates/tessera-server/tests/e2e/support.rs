//! What the end-to-end tests add to tessera-testkit's [`Tesserad`]: an async
//! HTTP client beside each server, and statements run on its database.
//!
//! ```ignore
//! backend_tests!(my_test);           // generates sqlite::my_test and postgres::my_test
//! async fn my_test(backend: Backend) {
//!     let server = Server::start(backend).await;
//!     let demo = server.demo_account().await;   // account + API key, via admin
//!     let me = server.get("/v1/me", &demo.auth()).await;
//! }
//! ```

#![allow(dead_code)] // Each test module uses a different part of the harness.

use base64::Engine as _;
use serde_json::Value;
use std::ops::{Deref, DerefMut};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
pub use tessera_testkit::{
    Backend, Database, Demo, REDIS_ENV, master_key, postgres_available, redis_available,
};
use tessera_testkit::{Tesserad, TesseradBuilder};
use tokio_rustls::rustls;

/// This build's binary, never a stale one from `TESSERAD_BIN`.
pub const TESSERAD: &str = env!("CARGO_BIN_EXE_tesserad");

/// Runs one statement on the database directly (a test moving time along).
pub async fn execute(db: &Database, statement: &'static str) {
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(&db.url).await.expect("connect");
    sqlx::query(statement)
        .execute(&pool)
        .await
        .expect("statement");
    pool.close().await;
}

/// A running [`Tesserad`] (its methods through `Deref`) and an HTTP client
/// that follows no redirects.
pub struct Server {
    tesserad: Tesserad,
    http: reqwest::Client,
}

impl Deref for Server {
    type Target = Tesserad;
    fn deref(&self) -> &Tesserad {
        &self.tesserad
    }
}

impl DerefMut for Server {
    fn deref_mut(&mut self) -> &mut Tesserad {
        &mut self.tesserad
    }
}

impl Server {
    /// Starts a server on a fresh database of `backend`.
    pub async fn start(backend: Backend) -> Self {
        Self::start_with(backend, &[]).await
    }

    /// Starts with extra `serve` flags, e.g. `["--access-token-ttl", "1s"]`.
    pub async fn start_with(backend: Backend, args: &[&str]) -> Self {
        Self::started(Tesserad::builder().backend(backend).args(args))
    }

    /// Starts on an existing database (e.g. one a test prepared).
    pub fn start_on(db: Arc<Database>, master_key: String, args: &[&str]) -> Self {
        Self::start_on_env(db, master_key, args, &[])
    }

    /// [`Server::start_on`] with extra environment variables (secrets that must
    /// not show in the process list, e.g. `TESSERAD_REDIS_URL`).
    pub fn start_on_env(
        db: Arc<Database>,
        master_key: String,
        args: &[&str],
        env: &[(&str, &str)],
    ) -> Self {
        Self::started(
            Tesserad::builder()
                .database(&db)
                .master_key(&master_key)
                .args(args)
                .envs(env),
        )
    }

    fn started(builder: TesseradBuilder) -> Self {
        Self {
            tesserad: builder.binary(TESSERAD).start(),
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("client"),
        }
    }

    /// A second instance on this one's database, with the same master key: with
    /// `--issuer` set to this one's URL, one service of two instances.
    pub fn second_instance(&self, args: &[&str]) -> Server {
        self.second_instance_env(args, &[])
    }

    /// [`Server::second_instance`] with environment variables (e.g. `TESSERAD_REDIS_URL`).
    pub fn second_instance_env(&self, args: &[&str], env: &[(&str, &str)]) -> Server {
        Self::started(self.tesserad.second_instance().args(args).envs(env))
    }

    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// `tesserad admin` with `--json` added unless `args` has it, for
    /// checking failures and text.
    pub fn admin_raw(&self, args: &[&str]) -> std::process::Output {
        self.admin_output(args)
    }

    /// A new account with an API key carrying the default scope.
    pub async fn demo_account(&self) -> Demo {
        self.tesserad.demo_account()
    }

    /// GET with an `Authorization` header value (or none).
    pub async fn get(&self, path: &str, authorization: Option<&str>) -> reqwest::Response {
        let mut req = self.http.get(self.endpoint(path));
        if let Some(value) = authorization {
            req = req.header(reqwest::header::AUTHORIZATION, value);
        }
        req.send().await.expect("request")
    }
}

/// `tesserad serve --dev`: its own throwaway database and seed, mail printed
/// on stdout. Killed on drop.
pub struct DevServer {
    pub url: String,
    /// What it printed before its listening line.
    pub printed: String,
    child: std::process::Child,
    lines: std::sync::mpsc::Receiver<String>,
}

impl DevServer {
    /// With extra `serve` flags, and nothing of the runner's `TESSERAD_*`.
    pub fn start(args: &[&str]) -> Self {
        use std::io::BufRead as _;
        let mut child = std::process::Command::new(TESSERAD)
            .args(["serve", "--dev", "--listen", "127.0.0.1:0"])
            .args(args)
            .env_remove("TESSERAD_DATABASE_URL")
            .env_remove("TESSERAD_MASTER_KEY")
            .env_remove("TESSERAD_CONFIG")
            .env_remove("TESSERAD_MAIL_OUTBOX")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("spawn tesserad --dev");
        let (tx, lines) = std::sync::mpsc::channel();
        let stdout = std::io::BufReader::new(child.stdout.take().expect("piped stdout"));
        std::thread::spawn(move || {
            for line in stdout.lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut server = Self {
            url: String::new(),
            printed: String::new(),
            child,
            lines,
        };
        loop {
            let line = server.next_line();
            if let Some(url) = line.strip_prefix("tesserad listening on ") {
                server.url = url.trim().to_owned();
                return server;
            }
            server.printed.push_str(&line);
            server.printed.push('\n');
        }
    }

    /// The next line it prints (the bound only turns a hang into a failure).
    pub fn next_line(&self) -> String {
        self.lines
            .recv_timeout(tessera_testkit::HANG)
            .expect("tesserad --dev printed nothing more")
    }

    /// SIGTERM, as a user's Ctrl-C; how it exited.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        let term = std::process::Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill");
        assert!(term.success());
        self.child.wait().expect("wait for tesserad --dev")
    }
}

impl Drop for DevServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The parsed JSON body, or a panic showing the status and text.
pub async fn json(response: reqwest::Response) -> Value {
    let status = response.status();
    let text = response.text().await.expect("body");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{status}: not JSON ({e}): {text}"))
}

/// Splits a compact JWS (after any prefix) into its three base64url parts.
pub fn jws_parts(key: &str) -> (String, String, String) {
    let start = key.find("eyJ").expect("a JWS");
    let mut it = key[start..].split('.');
    (
        it.next().unwrap().to_owned(),
        it.next().unwrap().to_owned(),
        it.next().unwrap().to_owned(),
    )
}

pub fn b64url(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

pub fn b64url_decode(s: &str) -> Vec<u8> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(s)
        .expect("base64url")
}

/// Asserts that a `tesserad` command stopped on a configuration error (exit 2)
/// whose message says each of `says`; its stderr, for further checks.
pub fn config_error(out: &std::process::Output, says: &[&str]) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    for words in says {
        assert!(stderr.contains(words), "{stderr}");
    }
    stderr
}

/// A leaf certificate for 127.0.0.1 issued by a CA made for the test (PEM).
pub struct TestCertificate {
    pub ca_pem: String,
    pub cert_pem: String,
    pub key_pem: String,
    /// The leaf and its key as DER, for a rustls server.
    pub cert_der: rustls::pki_types::CertificateDer<'static>,
    pub key_der: Vec<u8>,
}

impl TestCertificate {
    pub fn for_loopback() -> Self {
        let ca_key = rcgen::KeyPair::generate().unwrap();
        let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "Tessera throwaway test CA");
        let ca = rcgen::CertifiedIssuer::self_signed(ca_params, ca_key).unwrap();
        let leaf_key = rcgen::KeyPair::generate().unwrap();
        let leaf = rcgen::CertificateParams::new(vec!["127.0.0.1".to_owned()])
            .unwrap()
            .signed_by(&leaf_key, &ca)
            .unwrap();
        Self {
            ca_pem: ca.pem(),
            cert_pem: leaf.pem(),
            key_pem: leaf_key.serialize_pem(),
            cert_der: leaf.der().clone(),
            key_der: leaf_key.serialize_der(),
        }
    }
}

/// A PostgreSQL cluster of the test's own, to stop and start or to serve TLS
/// (the shared one in `TESSERA_TEST_POSTGRES_URL` serves other tests). Runs as
/// `postgres` when root, like scripts/lib.sh; stopped and removed on drop.
pub struct OwnPostgres {
    bin: PathBuf,
    dir: tempfile::TempDir,
    port: u16,
    as_postgres: bool,
    tls: bool,
}

impl OwnPostgres {
    pub fn start() -> Self {
        Self::start_with(None)
    }

    /// Serving TLS with `certificate` only: a connection without TLS is
    /// refused (`hostnossl … reject`), so every connection a test makes
    /// succeeds only encrypted.
    pub fn start_tls(certificate: &TestCertificate) -> Self {
        Self::start_with(Some(certificate))
    }

    fn start_with(tls: Option<&TestCertificate>) -> Self {
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .expect(
                "PostgreSQL server binaries under /usr/lib/postgresql (Debian package postgresql)",
            )
            .filter_map(|e| e.ok())
            .map(|e| e.path().join("bin"))
            .find(|b| b.join("initdb").exists())
            .expect("an initdb under /usr/lib/postgresql/*/bin");
        let dir = tempfile::Builder::new()
            .prefix("tessera-faults-pg")
            .tempdir()
            .unwrap();
        let as_postgres = Command::new("id")
            .arg("-u")
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
            .unwrap_or(false);
        if as_postgres {
            assert!(
                Command::new("chown")
                    .args(["postgres", dir.path().to_str().unwrap()])
                    .status()
                    .unwrap()
                    .success()
            );
        }
        let port = tessera_testkit::free_port();
        let pg = Self {
            bin,
            dir,
            port,
            as_postgres,
            tls: tls.is_some(),
        };
        let data = pg.data();
        pg.run(
            "initdb",
            &["-D", &data, "-U", "postgres", "--auth=trust", "-E", "UTF8"],
        );
        if let Some(certificate) = tls {
            let data = Path::new(&data);
            std::fs::write(data.join("server.crt"), &certificate.cert_pem).unwrap();
            std::fs::write(data.join("server.key"), &certificate.key_pem).unwrap();
            std::fs::write(
                data.join("pg_hba.conf"),
                "local all all trust\n\
                 hostssl all all 127.0.0.1/32 trust\n\
                 hostnossl all all 127.0.0.1/32 reject\n",
            )
            .unwrap();
            // PostgreSQL refuses a key that others can read.
            std::fs::set_permissions(
                data.join("server.key"),
                std::os::unix::fs::PermissionsExt::from_mode(0o600),
            )
            .unwrap();
            if pg.as_postgres {
                let files = ["server.crt", "server.key", "pg_hba.conf"].map(|f| data.join(f));
                assert!(
                    Command::new("chown")
                        .arg("postgres")
                        .args(files)
                        .status()
                        .unwrap()
                        .success()
                );
            }
        }
        pg.pg_ctl_start();
        pg
    }

    pub fn data(&self) -> String {
        self.dir.path().join("data").display().to_string()
    }

    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    fn run(&self, tool: &str, args: &[&str]) {
        let program = self.bin.join(tool);
        let mut cmd = if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&program);
            c
        } else {
            Command::new(&program)
        };
        let out = cmd.args(args).output().unwrap();
        assert!(
            out.status.success(),
            "{tool} {args:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    pub fn pg_ctl_start(&self) {
        let data = self.data();
        let log = self.dir.path().join("log").display().to_string();
        let options = format!(
            "-c listen_addresses=127.0.0.1 -p {} -k {} -c fsync=off -c ssl={}",
            self.port,
            self.dir.path().display(),
            if self.tls { "on" } else { "off" }
        );
        self.run(
            "pg_ctl",
            &["-D", &data, "-l", &log, "-w", "-o", &options, "start"],
        );
    }

    pub fn stop(&self) {
        self.run("pg_ctl", &["-D", &self.data(), "-m", "fast", "-w", "stop"]);
    }
}

impl Drop for OwnPostgres {
    fn drop(&mut self) {
        let program = self.bin.join("pg_ctl");
        let data = self.data();
        let mut cmd = if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&program);
            c
        } else {
            Command::new(&program)
        };
        let _ = cmd.args(["-D", &data, "-m", "immediate", "stop"]).output();
    }
}
