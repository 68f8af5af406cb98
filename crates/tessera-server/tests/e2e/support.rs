//! Test harness: a real `tesserad` on a kernel-picked loopback port, with a fresh
//! database (SQLite in a temp dir, or a new database on the PostgreSQL server in
//! `TESSERA_TEST_POSTGRES_URL`), and `tesserad admin --json` against that database.
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
use std::io::{BufRead as _, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

pub const TESSERAD: &str = env!("CARGO_BIN_EXE_tesserad");
pub const POSTGRES_ENV: &str = "TESSERA_TEST_POSTGRES_URL";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Generates, for each named `async fn(Backend)`, a test per backend:
/// `sqlite::NAME` and `postgres::NAME`. Once per module: list all tests in one call.
macro_rules! backend_tests {
    ($($name:ident),+ $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::support::Backend::Sqlite).await
                }
            )+
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    if $crate::support::postgres_available() {
                        super::$name($crate::support::Backend::Postgres).await
                    }
                }
            )+
        }
    };
}

pub const REDIS_ENV: &str = "TESSERA_TEST_REDIS_URL";

/// Whether Redis tests can run (`scripts/test` starts one and sets
/// [`REDIS_ENV`]; tests that stop Redis start their own `redis-server`). Missing:
/// a failure under `CI`, else a printed skip.
pub fn redis_available() -> bool {
    if std::env::var_os(REDIS_ENV).is_some() {
        return true;
    }
    if std::env::var_os("CI").is_some() {
        panic!("{REDIS_ENV} is not set (required when CI is set)");
    }
    eprintln!("skipped: set {REDIS_ENV} (scripts/test starts a throwaway Redis)");
    false
}

/// Whether PostgreSQL tests can run. Missing peer: a failure under `CI`, else a
/// printed skip.
pub fn postgres_available() -> bool {
    if std::env::var_os(POSTGRES_ENV).is_some() {
        return true;
    }
    if std::env::var_os("CI").is_some() {
        panic!("{POSTGRES_ENV} is not set (required when CI is set)");
    }
    eprintln!("skipped: set {POSTGRES_ENV}");
    false
}

/// A throwaway database.
pub struct TestDb {
    pub url: String,
    pub backend: Backend,
    /// Holds the SQLite file (and for both backends, anything else per test).
    pub dir: tempfile::TempDir,
}

impl TestDb {
    pub async fn create(backend: Backend) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = match backend {
            Backend::Sqlite => format!("sqlite://{}", dir.path().join("tesserad.db").display()),
            Backend::Postgres => fresh_postgres_database().await,
        };
        Self { url, backend, dir }
    }
}

impl TestDb {
    /// Runs one statement on the database directly (a test moving time along).
    pub async fn execute(&self, statement: &'static str) {
        sqlx::any::install_default_drivers();
        let pool = sqlx::AnyPool::connect(&self.url).await.expect("connect");
        sqlx::query(statement)
            .execute(&pool)
            .await
            .expect("statement");
        pool.close().await;
    }
}

async fn fresh_postgres_database() -> String {
    use sqlx::Connection as _;
    let server = std::env::var(POSTGRES_ENV).expect(POSTGRES_ENV);
    let name = format!("tessera_test_{}", uuid::Uuid::new_v4().simple());
    let mut conn = sqlx::PgConnection::connect(&server)
        .await
        .unwrap_or_else(|e| panic!("cannot connect to {POSTGRES_ENV}: {e}"));
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut conn)
        .await
        .expect("create test database");
    let mut url = url::Url::parse(&server).expect("postgres URL");
    url.set_path(&format!("/{name}"));
    url.to_string()
}

/// A running `tesserad serve`; killed on drop.
pub struct Server {
    /// `http://127.0.0.1:PORT`, also the issuer.
    pub url: String,
    /// `http://127.0.0.1:PORT` of `--metrics-listen`, when given.
    pub metrics_url: Option<String>,
    pub db: TestDb,
    pub master_key: String,
    /// The server's stderr (its logs); printed when a test panics.
    pub log_path: PathBuf,
    child: Child,
    http: reqwest::Client,
}

impl Server {
    /// Starts a server on a fresh database of `backend`.
    pub async fn start(backend: Backend) -> Self {
        Self::start_with(backend, &[]).await
    }

    /// Starts with extra `serve` flags, e.g. `["--access-token-ttl", "1s"]`.
    pub async fn start_with(backend: Backend, args: &[&str]) -> Self {
        let db = TestDb::create(backend).await;
        Self::start_on(db, master_key(), args)
    }

    /// Starts on an existing database (e.g. a second instance on the same one).
    pub fn start_on(db: TestDb, master_key: String, args: &[&str]) -> Self {
        Self::start_on_env(db, master_key, args, &[])
    }

    /// [`Server::start_on`] with extra environment variables (secrets that must
    /// not show in the process list, e.g. `TESSERAD_REDIS_URL`).
    pub fn start_on_env(
        db: TestDb,
        master_key: String,
        args: &[&str],
        env: &[(&str, &str)],
    ) -> Self {
        let log_path = db
            .dir
            .path()
            .join(format!("tesserad-{}.log", uuid::Uuid::new_v4().simple()));
        let log = std::fs::File::create(&log_path).expect("log file");
        let mut child = Command::new(TESSERAD)
            .args(["serve", "--listen", "127.0.0.1:0", "--database", &db.url])
            .args(args)
            .env("TESSERAD_MASTER_KEY", &master_key)
            .env("TESSERAD_MAIL_OUTBOX", db.dir.path().join("outbox"))
            .env_remove("TESSERAD_CONFIG")
            .env_remove("TESSERAD_ISSUER")
            .env_remove("SSL_CERT_FILE")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log))
            .spawn()
            .expect("spawn tesserad");
        let (url, metrics_url) = wait_for_listening(&mut child, &log_path);
        Self {
            url,
            metrics_url,
            log_path,
            db,
            master_key,
            child,
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
        let db = TestDb {
            url: self.db.url.clone(),
            backend: self.db.backend,
            dir: tempfile::tempdir().expect("temp dir"),
        };
        Server::start_on_env(db, self.master_key.clone(), args, env)
    }

    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    pub fn endpoint(&self, path: &str) -> String {
        format!("{}{path}", self.url)
    }

    /// `tesserad admin --json ARGS…` against this server's database; the parsed
    /// JSON output. Panics when the command fails.
    pub fn admin(&self, args: &[&str]) -> Value {
        let out = self.admin_raw(args);
        assert!(
            out.status.success(),
            "tesserad admin {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "admin {args:?} printed no JSON ({e}): {}",
                String::from_utf8_lossy(&out.stdout)
            )
        })
    }

    /// `tesserad admin ARGS…` (no `--json` added), for checking failures and text.
    pub fn admin_raw(&self, args: &[&str]) -> std::process::Output {
        let mut all = vec!["admin", "--json"];
        all.extend_from_slice(args);
        if args.contains(&"--json") {
            all.remove(1);
        }
        Command::new(TESSERAD)
            .args(&all)
            .env("TESSERAD_DATABASE_URL", &self.db.url)
            .env("TESSERAD_MASTER_KEY", &self.master_key)
            .env("TESSERAD_ISSUER", &self.url)
            .env_remove("TESSERAD_CONFIG")
            .output()
            .expect("run tesserad admin")
    }

    /// A new account with an API key carrying the default scope.
    pub async fn demo_account(&self) -> Demo {
        let email = format!("user-{}@example.com", uuid::Uuid::new_v4().simple());
        let account = self.admin(&["account", "create", "--email", &email]);
        let key = self.admin(&["api-key", "create", "--account", &email]);
        Demo {
            email,
            account_id: account["id"].as_str().unwrap().to_owned(),
            key_id: key["id"].as_str().unwrap().to_owned(),
            key: key["key"].as_str().unwrap().to_owned(),
        }
    }

    /// GET with an `Authorization` header value (or none).
    pub async fn get(&self, path: &str, authorization: Option<&str>) -> reqwest::Response {
        let mut req = self.http.get(self.endpoint(path));
        if let Some(value) = authorization {
            req = req.header(reqwest::header::AUTHORIZATION, value);
        }
        req.send().await.expect("request")
    }

    /// The server's process id, e.g. to send it a signal.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits for the process to exit on its own (after a signal).
    pub fn wait(&mut self) -> std::process::ExitStatus {
        self.child.wait().expect("wait for tesserad")
    }
}

impl Server {
    /// Everything the server has logged so far.
    pub fn logs(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!("--- tesserad log ({}) ---\n{}", self.url, self.logs());
        }
    }
}

/// An account and its API key, created through `tesserad admin`.
#[derive(Clone, Debug)]
pub struct Demo {
    pub email: String,
    pub account_id: String,
    pub key_id: String,
    pub key: String,
}

impl Demo {
    /// `token <key>`, the API-key `Authorization` value.
    pub fn auth(&self) -> Option<String> {
        Some(format!("token {}", self.key))
    }
}

/// A fresh `TESSERAD_MASTER_KEY` (32 random bytes, base64).
pub fn master_key() -> String {
    let mut b = [0u8; 32];
    aws_lc_rs::rand::fill(&mut b).expect("random");
    base64::engine::general_purpose::STANDARD.encode(b)
}

/// Reads the server's stdout until `tesserad listening on URL` (after `tesserad
/// metrics on URL` when there is a metrics listener); keeps draining it afterwards
/// so the pipe never fills.
fn wait_for_listening(child: &mut Child, log_path: &std::path::Path) -> (String, Option<String>) {
    let stdout = child.stdout.take().expect("piped stdout");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut sent = false;
        let mut metrics = None;
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if let Some(url) = line.strip_prefix("tesserad metrics on ") {
                metrics = Some(url.trim().to_owned());
            }
            if !sent && let Some(url) = line.strip_prefix("tesserad listening on ") {
                let _ = tx.send((url.trim().to_owned(), metrics.take()));
                sent = true;
            }
        }
    });
    // A bound, not a timing assertion: a debug build with migrations starts in well
    // under a second; this only turns a hang into a failure.
    match rx.recv_timeout(Duration::from_secs(60)) {
        Ok(url) => url,
        Err(_) => {
            let _ = child.kill();
            let log = std::fs::read_to_string(log_path).unwrap_or_default();
            panic!("tesserad did not report listening; its log:\n{log}");
        }
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

/// Directory for files a test wants to keep around while it runs.
pub fn scratch(db: &TestDb) -> PathBuf {
    db.dir.path().to_path_buf()
}
