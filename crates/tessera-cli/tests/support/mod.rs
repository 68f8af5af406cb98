//! What the `tessera` binary's suites share on top of tessera-testkit: the
//! binary in a sandbox with its config directory and the files it writes
//! ([`Tessera`]), and a counting authorization server scripted on an
//! [`HttpStub`] ([`TokenServer`]).
#![allow(dead_code)] // Each suite uses a different part.

use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use tessera_testkit::{Home, HttpStub, Running, StubRequest, StubResponse};

pub use tessera_testkit::closed_port_url;

/// The `tessera` binary with a private HOME, config dir (`TESSERA_CONFIG_DIR`)
/// and working directory, and nothing else from the test runner's environment.
pub struct Tessera {
    pub home: Home,
    pub config: PathBuf,
}

impl Tessera {
    /// Talking to `server` (`TESSERA_URL`).
    pub fn new(server: &str) -> Self {
        Self::sandbox().with_env("TESSERA_URL", server)
    }

    /// No server and no `PATH` (no browser to open): the default URL, and
    /// whatever a test sets per command.
    pub fn sandbox() -> Self {
        let home = Home::new(env!("CARGO_BIN_EXE_tessera")).without_env("PATH");
        let config = home.dir.path().join("config");
        let home = home.with_env("TESSERA_CONFIG_DIR", &config.display().to_string());
        Self { home, config }
    }

    /// Adds an environment variable to every command (e.g. client credentials).
    pub fn with_env(mut self, name: &str, value: &str) -> Self {
        self.home = self.home.with_env(name, value);
        self
    }

    /// The binary with stdin empty.
    pub fn command(&self, args: &[&str]) -> Command {
        self.home.cmd(args, &[])
    }

    /// [`Tessera::command`] for `assert_cmd`'s assertions.
    pub fn cmd(&self, args: &[&str]) -> assert_cmd::Command {
        assert_cmd::Command::from_std(self.command(args))
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().unwrap()
    }

    /// Runs and expects success; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "tessera {args:?}: {:?}\nstdout: {}\nstderr: {}",
            out.status,
            stdout(&out),
            stderr(&out)
        );
        stdout(&out)
    }

    /// Runs and expects exit `code`; returns stderr.
    pub fn fails(&self, args: &[&str], code: i32) -> String {
        let out = self.run(args);
        assert_eq!(
            out.status.code(),
            Some(code),
            "tessera {args:?}\nstderr: {}",
            stderr(&out)
        );
        stderr(&out)
    }

    /// In the background, stdin piped (to paste into), stderr read by line.
    pub fn spawn(&self, args: &[&str]) -> Running {
        let mut command = self.command(args);
        command.stdin(Stdio::piped());
        Running::start(command)
    }

    /// An unverified API-key login, which must succeed.
    pub fn login(&self, key: &str, extra: &[&str]) {
        let mut args = vec!["auth", "login", "--api-key", key, "--no-verify"];
        args.extend_from_slice(extra);
        self.cmd(&args).assert().success();
    }

    pub fn credentials_path(&self) -> PathBuf {
        self.config.join("credentials.toml")
    }

    pub fn credentials(&self) -> toml::Table {
        std::fs::read_to_string(self.credentials_path())
            .unwrap()
            .parse()
            .unwrap()
    }

    /// The cached OAuth login of `profile`.
    pub fn session(&self, profile: &str) -> toml::Table {
        self.credentials()["profiles"][profile]["oauth"]
            .as_table()
            .unwrap()
            .clone()
    }

    /// Rewrites a profile's cached login (e.g. to make it expired), as a
    /// process would: whole file, mode 0600.
    pub fn edit_session(&self, profile: &str, edit: impl FnOnce(&mut toml::Table)) {
        let mut creds = self.credentials();
        let session = creds["profiles"][profile]["oauth"].as_table_mut().unwrap();
        edit(session);
        write_private(&self.credentials_path(), &toml::to_string(&creds).unwrap());
    }

    /// Seeds profile `default` (current in environment `default`) with an
    /// OAuth login: `session` is the `[profiles.default.oauth]` table.
    pub fn seed_session(&self, session: &str) {
        std::fs::create_dir_all(&self.config).unwrap();
        std::fs::set_permissions(&self.config, std::fs::Permissions::from_mode(0o700)).unwrap();
        write_private(
            &self.config.join("config.toml"),
            "[environments.default]\ncurrent_profile = \"default\"\n\n[profiles.default]\nenvironment = \"default\"\n",
        );
        write_private(
            &self.credentials_path(),
            &format!("[profiles.default.oauth]\n{session}"),
        );
    }
}

fn write_private(path: &Path, text: &str) {
    let tmp = path.with_extension("test-tmp");
    std::fs::write(&tmp, text).unwrap();
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o600)).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

// ---------------------------------------------------------------------------
// A counting authorization server.

/// The API key the counting server's one-time-code login hands out.
pub const OTP_API_KEY: &str = "lk_otp-key-0123456789abcdef";

/// What `GET /v1/bytes` answers: not text, no line end.
pub const BYTES: &[u8] = &[0xff, 0x00, 0xfe, b'x'];

/// What the counting server does with a refresh request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RefreshReply {
    Grant,
    InvalidGrant,
}

/// A minimal OAuth server: RFC 8414 metadata, `POST /token` (refresh_token
/// grant: counted, answered with `at-N`/`rt-N`), `POST /revoke` (recorded; a
/// refresh token `rt-refused…` is refused as `unsupported_token_type`),
/// and `GET /v1/me` (200 for a Bearer `at-*` token or `token good-key`, else
/// 401). `GET /v1/bytes` answers [`BYTES`]. `GET /v1/limited` answers 429 (with `Retry-After: 0`) `limited`
/// times, then 200. `POST /session-token` trades session id `sess-good` for
/// a token; `POST /v1/auth/otp` accepts any address but `refused@…` and `/v1/auth/otp/verify`
/// code `123456` for API key [`OTP_API_KEY`].
pub struct TokenServer {
    pub url: String,
    pub stub: HttpStub,
    refreshes: Arc<AtomicUsize>,
    /// `(token_type_hint, token)` of each revocation.
    pub revoked: Arc<Mutex<Vec<(String, String)>>>,
    pub limited: Arc<AtomicUsize>,
}

fn answer(status: u16, body: &str) -> StubResponse {
    StubResponse::text(status, body)
}

impl TokenServer {
    pub fn start(reply: RefreshReply) -> Self {
        let refreshes = Arc::new(AtomicUsize::new(0));
        let revoked = Arc::new(Mutex::new(Vec::new()));
        let limited = Arc::new(AtomicUsize::new(0));
        let (counted, recorded, limits) = (refreshes.clone(), revoked.clone(), limited.clone());
        let not_found = || answer(404, r#"{"error":"not_found","message":"no"}"#);
        let stub = HttpStub::builder()
            .route("GET", "/.well-known/oauth-authorization-server", |_, url| {
                answer(200, &format!(
                    r#"{{"issuer":"{url}","authorization_endpoint":"{url}/authorize","token_endpoint":"{url}/token","revocation_endpoint":"{url}/revoke"}}"#
                ))
            })
            .route("POST", "/token", move |request, _| {
                if request.form("grant_type").as_deref() != Some("refresh_token") {
                    return not_found();
                }
                let n = counted.fetch_add(1, Ordering::SeqCst) + 1;
                match reply {
                    RefreshReply::Grant => answer(200, &format!(
                        r#"{{"access_token":"at-{n}","token_type":"Bearer","expires_in":3600,"refresh_token":"rt-{n}","scope":"api:read"}}"#
                    )),
                    RefreshReply::InvalidGrant => answer(
                        400,
                        r#"{"error":"invalid_grant","error_description":"the refresh token was revoked"}"#,
                    ),
                }
            })
            .route("POST", "/session-token", |request, _| {
                if request.form("session_id").as_deref() == Some("sess-good") {
                    answer(200, r#"{"access_token":"at-session","token_type":"Bearer","expires_in":3600,"acr":"2"}"#)
                } else {
                    answer(400, r#"{"error":"invalid_grant","error_description":"unknown or used session"}"#)
                }
            })
            .route("POST", "/v1/auth/otp", |request: &StubRequest, _| {
                // As tesserad refuses what its finer check finds.
                if request.body.contains("refused@") {
                    answer(400, r#"{"error":"invalid_request","message":"\"refused@example.test.\" is not an email address"}"#)
                } else {
                    answer(202, "{}")
                }
            })
            .route("POST", "/v1/auth/otp/verify", |request: &StubRequest, _| {
                if request.body.contains(r#""code":"123456""#) {
                    answer(200, &format!(
                        r#"{{"id":"key_otp","key":"{OTP_API_KEY}","scope":"THIRD_PARTY_OPERATION","expires_at":null}}"#
                    ))
                } else {
                    answer(401, r#"{"error":"invalid_otp","message":"Invalid OTP code"}"#)
                }
            })
            .route("POST", "/revoke", move |request, _| {
                let token = request.form("token").unwrap_or_default();
                let refused = token.starts_with("rt-refused");
                recorded.lock().unwrap().push((
                    request.form("token_type_hint").unwrap_or_default(),
                    token,
                ));
                if refused {
                    answer(400, r#"{"error":"unsupported_token_type"}"#)
                } else {
                    answer(200, "")
                }
            })
            .route("GET", "/v1/me", |request, _| {
                let authorization = request.header("authorization").unwrap_or_default();
                if authorization.starts_with("Bearer at-") || authorization == "token good-key" {
                    answer(200, r#"{"account_id":"acct_1","email":"dev@example.test","credential":"access_token","credential_id":"tok_1","scope":"THIRD_PARTY_OPERATION"}"#)
                        .header("x-ratelimit-limit", "100")
                        .header("x-ratelimit-remaining", "99")
                        .header("x-ratelimit-reset", "1700000000")
                } else {
                    answer(401, r#"{"error":"invalid_token","message":"the token is invalid"}"#)
                }
            })
            .route("GET", "/v1/bytes", |_, _| {
                StubResponse::bytes(200, BYTES).header("content-type", "application/octet-stream")
            })
            .route("GET", "/v1/limited", move |_, _| {
                let left = limits.load(Ordering::SeqCst);
                if left > 0 {
                    limits.store(left - 1, Ordering::SeqCst);
                    answer(429, r#"{"error":"rate_limited","message":"slow down"}"#)
                        .header("retry-after", "0")
                } else {
                    answer(200, r#"{"ok":true}"#)
                }
            })
            .fallback(move |_, _| not_found())
            .start();
        TokenServer {
            url: stub.url.clone(),
            stub,
            refreshes,
            revoked,
            limited,
        }
    }

    pub fn refresh_count(&self) -> usize {
        self.refreshes.load(Ordering::SeqCst)
    }

    /// A session table for [`Tessera::seed_session`] whose access token
    /// expired long ago and whose refresh token this server accepts.
    pub fn expired_session(&self) -> String {
        format!(
            "method = \"web\"\naccess_token = \"at-expired\"\nrefresh_token = \"rt-0\"\nexpires_at = 1000\nscope = \"api:read\"\nclient_id = \"tessera-cli\"\nissuer = \"{url}\"\ntoken_endpoint = \"{url}/token\"\nrevocation_endpoint = \"{url}/revoke\"\nobtained_at = 0\n",
            url = self.url
        )
    }
}
