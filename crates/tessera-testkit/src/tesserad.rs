//! A real `tesserad` per test: the binary on a kernel-picked loopback port,
//! a database of its own, and `tesserad admin --json` against that database.

use base64::Engine as _;
use serde_json::Value;
use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The PostgreSQL server tests create their databases on (`scripts/test`
/// starts a throwaway one): `postgres://USER@127.0.0.1:PORT/postgres`.
pub const POSTGRES_ENV: &str = "TESSERA_TEST_POSTGRES_URL";
/// The Redis the rate-limit tests share (`scripts/test` starts one).
pub const REDIS_ENV: &str = "TESSERA_TEST_REDIS_URL";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Generates, for each named `async fn(Backend)`, a test per backend:
/// `sqlite::NAME` and `postgres::NAME` (skipped, or failed under `CI`, when
/// [`POSTGRES_ENV`] is not set). Once per module: list all its tests in one
/// call. The caller depends on tokio.
#[macro_export]
macro_rules! backend_tests {
    ($($name:ident),+ $(,)?) => {
        mod sqlite {
            $(
                #[::tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::Backend::Sqlite).await
                }
            )+
        }
        mod postgres {
            $(
                #[::tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    if $crate::postgres_available() {
                        super::$name($crate::Backend::Postgres).await
                    }
                }
            )+
        }
    };
}

/// Whether the peer named by the environment variable `var` is there. Missing:
/// a failure under `CI` (which must run everything), else a printed skip.
pub fn peer_available(var: &str, hint: &str) -> bool {
    if std::env::var_os(var).is_some() {
        return true;
    }
    if std::env::var_os("CI").is_some() {
        panic!("{var} is not set (required when CI is set; {hint})");
    }
    eprintln!("skipped: set {var} ({hint})");
    false
}

pub fn postgres_available() -> bool {
    peer_available(POSTGRES_ENV, "scripts/test starts a throwaway PostgreSQL")
}

/// Tests that stop Redis or build a cluster start their own `redis-server`.
pub fn redis_available() -> bool {
    peer_available(REDIS_ENV, "scripts/test starts a throwaway Redis")
}

/// The `tesserad` binary: `$TESSERAD_BIN`, else this workspace's
/// `target/debug/tesserad` (or under `$CARGO_TARGET_DIR`). The server's own
/// tests pass `env!("CARGO_BIN_EXE_tesserad")` to [`TesseradBuilder::binary`]
/// instead, so they never run a stale build.
pub fn tesserad_path() -> PathBuf {
    if let Some(bin) = std::env::var_os("TESSERAD_BIN") {
        return bin.into();
    }
    let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target"),
        PathBuf::from,
    );
    let path = target.join("debug/tesserad");
    assert!(
        path.exists(),
        "{} is missing: build it first with `cargo build -p tessera-server --bin tesserad`",
        path.display()
    );
    path
}

/// A fresh `TESSERAD_MASTER_KEY` (32 random bytes, base64).
pub fn master_key() -> String {
    base64::engine::general_purpose::STANDARD.encode(crate::random_bytes(32))
}

/// A throwaway database. Servers share it through an [`Arc`]; a PostgreSQL
/// database is dropped when the last one lets go (after their processes are
/// killed), so a long run does not fill the PostgreSQL server's disk.
pub struct Database {
    /// `sqlite://…/tesserad.db` or `postgres://…/tessera_test_…`.
    pub url: String,
    pub backend: Backend,
    /// Holds the SQLite file.
    dir: tempfile::TempDir,
    /// The maintenance URL and the database's name, to drop it.
    postgres: Option<(String, String)>,
}

impl Database {
    pub fn create(backend: Backend) -> Arc<Self> {
        let dir = tempfile::tempdir().expect("temp dir");
        let (url, postgres) = match backend {
            Backend::Sqlite => (
                format!("sqlite://{}", dir.path().join("tesserad.db").display()),
                None,
            ),
            Backend::Postgres => {
                let server = std::env::var(POSTGRES_ENV).unwrap_or_else(|_| {
                    panic!("{POSTGRES_ENV} is not set: check postgres_available() first")
                });
                let name = format!(
                    "tessera_test_{}",
                    crate::random_bytes(8)
                        .iter()
                        .map(|b| format!("{b:02x}"))
                        .collect::<String>()
                );
                psql(&server, &format!("CREATE DATABASE {name}"))
                    .unwrap_or_else(|e| panic!("creating a test database: {e}"));
                let mut url = url::Url::parse(&server).expect("a postgres:// URL");
                url.set_path(&format!("/{name}"));
                (url.to_string(), Some((server, name)))
            }
        };
        Arc::new(Self {
            url,
            backend,
            dir,
            postgres,
        })
    }

    /// A database the test set up itself (on a PostgreSQL cluster of its
    /// own, say): used as it is and never dropped.
    pub fn existing(backend: Backend, url: &str) -> Arc<Self> {
        Arc::new(Self {
            url: url.to_owned(),
            backend,
            dir: tempfile::tempdir().expect("temp dir"),
            postgres: None,
        })
    }

    /// The directory beside the database (SQLite keeps `master.key` and its
    /// `-dpop` file there).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Database {
    fn drop(&mut self) {
        if let Some((server, name)) = &self.postgres {
            // Best effort: FORCE ends the test's own leftover connections.
            if let Err(e) = psql(
                server,
                &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
            ) {
                eprintln!("could not drop test database {name}: {e}");
            }
        }
    }
}

/// Runs one statement with `psql` (from `PATH`, or Debian's server binaries).
fn psql(server: &str, statement: &str) -> Result<(), String> {
    let program = ["psql".into()]
        .into_iter()
        .chain(
            std::fs::read_dir("/usr/lib/postgresql")
                .into_iter()
                .flatten()
                .flatten()
                .map(|version| version.path().join("bin/psql")),
        )
        .find(|path: &PathBuf| {
            Command::new(path)
                .arg("--version")
                .output()
                .is_ok_and(|out| out.status.success())
        })
        .ok_or("psql is not installed (Debian: postgresql-client)")?;
    let out = Command::new(program)
        .args([
            "-X",
            "-q",
            "-v",
            "ON_ERROR_STOP=1",
            "-d",
            server,
            "-c",
            statement,
        ])
        .env_remove("PGPASSWORD")
        .output()
        .map_err(|e| e.to_string())?;
    if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

/// How to start a [`Tesserad`]; [`TesseradBuilder::start`] starts it.
#[derive(Default)]
pub struct TesseradBuilder {
    bin: Option<PathBuf>,
    backend: Option<Backend>,
    database: Option<Arc<Database>>,
    master_key: Option<String>,
    args: Vec<String>,
    env: Vec<(String, String)>,
}

impl TesseradBuilder {
    /// A fresh database of `backend` (default SQLite).
    pub fn backend(mut self, backend: Backend) -> Self {
        self.backend = Some(backend);
        self
    }

    /// An existing database (another instance's, or one a test prepared).
    pub fn database(mut self, database: &Arc<Database>) -> Self {
        self.database = Some(database.clone());
        self
    }

    /// `TESSERAD_MASTER_KEY` (default: a fresh one).
    pub fn master_key(mut self, key: &str) -> Self {
        self.master_key = Some(key.to_owned());
        self
    }

    /// Extra `serve` flags, e.g. `["--access-token-ttl", "1s"]`.
    pub fn args(mut self, args: &[&str]) -> Self {
        self.args.extend(args.iter().map(|arg| (*arg).to_owned()));
        self
    }

    /// Extra environment, for settings that must not show in the process
    /// list (`TESSERAD_REDIS_URL` with its password).
    pub fn env(mut self, name: &str, value: &str) -> Self {
        self.env.push((name.to_owned(), value.to_owned()));
        self
    }

    pub fn envs(self, vars: &[(&str, &str)]) -> Self {
        vars.iter()
            .fold(self, |builder, (name, value)| builder.env(name, value))
    }

    /// The binary to run (default [`tesserad_path`]).
    pub fn binary(mut self, path: impl Into<PathBuf>) -> Self {
        self.bin = Some(path.into());
        self
    }

    /// Starts it; returns once it answers `/healthz`.
    pub fn start(self) -> Tesserad {
        let bin = self.bin.unwrap_or_else(tesserad_path);
        let database = self
            .database
            .unwrap_or_else(|| Database::create(self.backend.unwrap_or(Backend::Sqlite)));
        let master_key = self.master_key.unwrap_or_else(master_key);
        let dir = tempfile::tempdir().expect("temp dir");
        let log_path = dir.path().join("tesserad.log");
        let log = std::fs::File::create(&log_path).expect("log file");
        let mut child = Command::new(&bin)
            .args([
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--database",
                &database.url,
            ])
            .args(&self.args)
            .env("TESSERAD_MASTER_KEY", &master_key)
            .env("TESSERAD_MAIL_OUTBOX", dir.path().join("outbox"))
            .env_remove("TESSERAD_CONFIG")
            .env_remove("TESSERAD_ISSUER")
            .env_remove("SSL_CERT_FILE")
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log))
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", bin.display()));
        let Some((url, metrics_url)) = crate::wait_for_line(
            &mut child,
            "tesserad listening on ",
            Some("tesserad metrics on "),
        ) else {
            let log = std::fs::read_to_string(&log_path).unwrap_or_default();
            panic!("tesserad did not report listening; its log:\n{log}");
        };
        let server = Tesserad {
            url,
            metrics_url,
            database,
            master_key,
            bin,
            dir,
            child,
        };
        server.wait_for_health();
        server
    }
}

/// A running `tesserad serve`; killed on drop (its log printed when the test
/// is failing).
pub struct Tesserad {
    /// `http://127.0.0.1:PORT`, also the issuer unless `--issuer` says otherwise.
    pub url: String,
    /// `http://127.0.0.1:PORT` of `--metrics-listen`, when given.
    pub metrics_url: Option<String>,
    pub database: Arc<Database>,
    pub master_key: String,
    bin: PathBuf,
    /// This instance's outbox and log.
    dir: tempfile::TempDir,
    child: Child,
}

impl Tesserad {
    pub fn builder() -> TesseradBuilder {
        TesseradBuilder::default()
    }

    /// On a fresh SQLite database.
    pub fn start() -> Self {
        Self::builder().start()
    }

    /// On a fresh SQLite database, with extra `serve` flags.
    pub fn start_with(serve_args: &[&str]) -> Self {
        Self::builder().args(serve_args).start()
    }

    /// Another instance on this one's database, binary and master key: with
    /// `--issuer` set to this one's URL, one service of two instances.
    pub fn second_instance(&self) -> TesseradBuilder {
        Self::builder()
            .binary(&self.bin)
            .database(&self.database)
            .master_key(&self.master_key)
    }

    pub fn endpoint(&self, path: &str) -> String {
        format!("{}{path}", self.url)
    }

    /// The listening line is printed once the socket is bound; this proves
    /// the server also answers. `Connection: close` and reading to the end:
    /// the probe holds none of the server's connection slots afterwards.
    fn wait_for_health(&self) {
        let address = self.url.trim_start_matches("http://");
        let deadline = Instant::now() + crate::HANG;
        loop {
            let answer = std::net::TcpStream::connect(address).and_then(|mut stream| {
                stream.set_read_timeout(Some(Duration::from_secs(5)))?;
                write!(
                    stream,
                    "GET /healthz HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n"
                )?;
                let mut answer = String::new();
                stream.read_to_string(&mut answer)?;
                Ok(answer)
            });
            if answer.is_ok_and(|a| a.starts_with("HTTP/1.1 200")) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "tesserad never answered /healthz; its log:\n{}",
                self.logs()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// `tesserad admin` against this server's database, with this server's
    /// master key and issuer: add arguments, environment or stdin.
    pub fn admin_command(&self) -> Command {
        let mut command = Command::new(&self.bin);
        command
            .arg("admin")
            .env("TESSERAD_DATABASE_URL", &self.database.url)
            .env("TESSERAD_MASTER_KEY", &self.master_key)
            .env("TESSERAD_ISSUER", &self.url)
            .env("TESSERAD_MAIL_OUTBOX", self.outbox())
            .env_remove("TESSERAD_CONFIG");
        command
    }

    /// `tesserad admin --json ARGS…` (`--json` once, wherever `args` has it),
    /// for checking failures and text.
    pub fn admin_output(&self, args: &[&str]) -> Output {
        let mut command = self.admin_command();
        if !args.contains(&"--json") {
            command.arg("--json");
        }
        command.args(args).output().expect("run tesserad admin")
    }

    /// `tesserad admin --json ARGS…`: the contract JSON it prints. Panics when
    /// the command fails.
    pub fn admin(&self, args: &[&str]) -> Value {
        json_stdout(
            &format!("tesserad admin {args:?}"),
            &self.admin_output(args),
        )
    }

    /// A new account; returns its email.
    pub fn account(&self) -> String {
        let email = format!("user-{}@example.com", crate::unique());
        self.admin(&["account", "create", "--email", &email]);
        email
    }

    /// A new account with an API key carrying the default scope.
    pub fn demo_account(&self) -> Demo {
        let email = format!("user-{}@example.com", crate::unique());
        let account = self.admin(&["account", "create", "--email", &email]);
        let key = self.admin(&["api-key", "create", "--account", &email]);
        Demo {
            email,
            account_id: str_field(&account, "id"),
            key_id: str_field(&key, "id"),
            key: str_field(&key, "key"),
        }
    }

    /// A new API key of `email`'s account: `(id, key)`.
    pub fn api_key(&self, email: &str) -> (String, String) {
        let key = self.admin(&["api-key", "create", "--account", email]);
        (str_field(&key, "id"), str_field(&key, "key"))
    }

    /// A new project of `email`'s account; returns its id.
    pub fn project(&self, email: &str, name: &str) -> String {
        let project = self.admin(&["project", "create", "--account", email, "--name", name]);
        str_field(&project, "id")
    }

    pub fn revoke(&self, key_id: &str) {
        self.admin(&["api-key", "revoke", key_id]);
    }

    /// A confidential app of `email`'s account: `(client_id, client_secret)`.
    pub fn confidential_app(&self, email: &str) -> (String, String) {
        let app = self.admin(&["app", "create", "--account", email, "--name", "vendor"]);
        (
            str_field(&app, "client_id"),
            str_field(&app, "client_secret"),
        )
    }

    /// A token-URL session of `email`'s account: `(session_id, token_url)`.
    pub fn session(&self, email: &str) -> (String, String) {
        let session = self.admin(&["session", "create", "--account", email]);
        (
            str_field(&session, "session_id"),
            str_field(&session, "token_url"),
        )
    }

    /// `admin account set-password --account EMAIL`, the password on stdin.
    pub fn set_password(&self, email: &str, password: &str) -> Output {
        let mut child = self
            .admin_command()
            .args(["--json", "account", "set-password", "--account", email])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run tesserad admin");
        writeln!(child.stdin.take().expect("piped"), "{password}").expect("password on stdin");
        child.wait_with_output().expect("tesserad admin")
    }

    /// Where this instance writes its mail (`--mail-outbox`).
    pub fn outbox(&self) -> PathBuf {
        self.dir.path().join("outbox")
    }

    /// A directory that lives as long as this server, for files a test keeps
    /// around (configs, certificates).
    pub fn scratch(&self) -> &Path {
        self.dir.path()
    }

    /// The one-time code in the `skip`-th mail (oldest first) to `email`.
    pub fn otp_code_nth(&self, email: &str, skip: usize) -> String {
        self.wait_for_codes(email, |codes| codes.get(skip).cloned())
    }

    /// The one-time code in the newest mail to `email`.
    pub fn otp_code(&self, email: &str) -> String {
        self.wait_for_codes(email, |codes| codes.last().cloned())
    }

    /// The codes mailed to `email` so far, oldest first.
    pub fn otp_codes(&self, email: &str) -> Vec<String> {
        let mut mails: Vec<(std::time::SystemTime, String)> = std::fs::read_dir(self.outbox())
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|entry| {
                let text = std::fs::read_to_string(entry.path()).ok()?;
                let modified = entry.metadata().ok()?.modified().ok()?;
                text.contains(email).then_some((modified, text))
            })
            .collect();
        mails.sort();
        mails
            .iter()
            .map(|(_, text)| {
                let start = text.find("code is ").expect("a code in the mail") + "code is ".len();
                text[start..start + 6].to_owned()
            })
            .collect()
    }

    /// Waits until `pick` finds a code among [`Tesserad::otp_codes`]. Mail is
    /// written as the request is answered, or just after by a task: the wait
    /// only bounds a hang.
    fn wait_for_codes(&self, email: &str, pick: impl Fn(&[String]) -> Option<String>) -> String {
        let start = Instant::now();
        loop {
            let codes = self.otp_codes(email);
            if let Some(code) = pick(&codes) {
                return code;
            }
            assert!(
                start.elapsed() < crate::HANG,
                "no such mail to {email} in {} ({} there)",
                self.outbox().display(),
                codes.len()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Everything the server has logged so far (its stderr).
    pub fn logs(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("tesserad.log")).unwrap_or_default()
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

impl Drop for Tesserad {
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

fn str_field(value: &Value, name: &str) -> String {
    value[name]
        .as_str()
        .unwrap_or_else(|| panic!("no {name:?} in {value}"))
        .to_owned()
}

/// The JSON a command that succeeded printed on stdout. Panics, with its
/// stderr, when `what` failed or printed no JSON.
pub fn json_stdout(what: &str, out: &Output) -> Value {
    assert!(
        out.status.success(),
        "{what} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{what} printed no JSON ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}
