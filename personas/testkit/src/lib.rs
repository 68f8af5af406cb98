//! Harness for the persona acceptance suites.
//!
//! - [`Tesserad`]: a real `tesserad serve` on a kernel-picked loopback port with a
//!   fresh SQLite database, plus `tesserad admin --json` against it.
//! - [`Browser`]: a scripted browser that signs in on tesserad's pages (code
//!   from its mail outbox) and allows a device or browser login.
//! - [`Stub`]: a recording HTTP server on `127.0.0.1`, for tests that check which
//!   requests a command makes at all.
//! - [`Home`]: a temporary `HOME` and working directory, and a [`Command`] for a
//!   persona binary with a clean environment.
//! - [`Home::pty`]: the binary on a pseudo-terminal, for prompts and menus.
//! - [`issuer::Issuer`]: npm oidc-provider issuing signed JWTs, the foreign
//!   issuer of workload identity federation (a CI platform's role).
//! - [`secret_service::SecretService`]: a private D-Bus session with
//!   gnome-keyring on it, for the OS keychain (Unix).

pub mod issuer;
pub mod secret_service;

use base64::Engine as _;
use serde_json::Value;
use std::collections::BTreeMap;
use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

/// A bound, not a timing assertion: it only turns a hang into a failure.
const HANG: Duration = Duration::from_secs(60);

/// `target/debug/tesserad` of this workspace (or `$CARGO_TARGET_DIR`).
pub fn tesserad_path() -> PathBuf {
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

/// A running `tesserad serve`; killed on drop.
pub struct Tesserad {
    /// `http://127.0.0.1:PORT`, also the issuer.
    pub url: String,
    db_url: String,
    master_key: String,
    dir: tempfile::TempDir,
    child: Child,
}

impl Tesserad {
    pub fn start() -> Self {
        Self::start_with(&[])
    }

    /// Starts with extra `serve` flags, e.g. `["--access-token-ttl", "30s"]`.
    pub fn start_with(serve_args: &[&str]) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let db_url = format!("sqlite://{}", dir.path().join("tesserad.db").display());
        let mut key = [0u8; 32];
        std::fs::File::open("/dev/urandom")
            .and_then(|mut f| f.read_exact(&mut key))
            .expect("random bytes");
        let master_key = base64::engine::general_purpose::STANDARD.encode(key);
        let mut child = Command::new(tesserad_path())
            .args(["serve", "--listen", "127.0.0.1:0", "--database", &db_url])
            .args(serve_args)
            .env("TESSERAD_MASTER_KEY", &master_key)
            .env("TESSERAD_MAIL_OUTBOX", dir.path().join("outbox"))
            .env_remove("TESSERAD_CONFIG")
            .env_remove("TESSERAD_ISSUER")
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn tesserad");
        let url = wait_for_listening(&mut child);
        Self {
            url,
            db_url,
            master_key,
            dir,
            child,
        }
    }

    /// `tesserad admin --json ARGS…`; the parsed output. Panics on failure.
    pub fn admin(&self, args: &[&str]) -> Value {
        let out = Command::new(tesserad_path())
            .args(["admin", "--json"])
            .args(args)
            .env("TESSERAD_DATABASE_URL", &self.db_url)
            .env("TESSERAD_MASTER_KEY", &self.master_key)
            .env("TESSERAD_ISSUER", &self.url)
            .env("TESSERAD_MAIL_OUTBOX", self.dir.path().join("outbox"))
            .env_remove("TESSERAD_CONFIG")
            .output()
            .expect("run tesserad admin");
        assert!(
            out.status.success(),
            "tesserad admin {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).expect("admin prints JSON")
    }

    /// A new account; returns its email.
    pub fn account(&self) -> String {
        let email = format!("user-{}@example.com", unique());
        self.admin(&["account", "create", "--email", &email]);
        email
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

    /// The one-time code in the newest mail to `email` in the outbox. Mail is
    /// written as the request is answered; the wait only bounds a hang.
    pub fn otp_code(&self, email: &str) -> String {
        let outbox = self.dir.path().join("outbox");
        let start = std::time::Instant::now();
        loop {
            let mut mails: Vec<(std::time::SystemTime, String)> = std::fs::read_dir(&outbox)
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
            if let Some((_, text)) = mails.last() {
                let start = text.find("code is ").expect("a code in the mail") + "code is ".len();
                return text[start..start + 6].to_owned();
            }
            assert!(
                start.elapsed() < HANG,
                "no mail to {email} in {}",
                outbox.display()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Tesserad {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn str_field(value: &Value, name: &str) -> String {
    value[name]
        .as_str()
        .unwrap_or_else(|| panic!("no {name:?} in {value}"))
        .to_owned()
}

fn unique() -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

fn wait_for_listening(child: &mut Child) -> String {
    wait_for_url(child, "tesserad listening on ", "tesserad")
}

/// Reads `child`'s stdout until a line starting with `prefix`; the URL after
/// it. Keeps draining stdout afterwards so the pipe never fills.
fn wait_for_url(child: &mut Child, prefix: &'static str, what: &str) -> String {
    let stdout = child.stdout.take().expect("piped stdout");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut sent = false;
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if !sent && let Some(rest) = line.strip_prefix(prefix) {
                let url = rest.split_whitespace().next().unwrap_or_default();
                let _ = tx.send(url.to_owned());
                sent = true;
            }
        }
    });
    match rx.recv_timeout(HANG) {
        Ok(url) => url,
        Err(_) => {
            let _ = child.kill();
            panic!("{what} did not report listening (see its stderr above)");
        }
    }
}

/// One request the stub received.
#[derive(Clone, Debug)]
pub struct StubRequest {
    pub method: String,
    pub path: String,
    pub query: String,
    /// Lower-case names.
    pub headers: BTreeMap<String, String>,
    pub body: String,
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
                out.push(u8::from_str_radix(hex, 16).unwrap_or(b'?'));
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// What a stub route answers.
#[derive(Clone, Debug)]
pub struct StubResponse {
    pub status: u16,
    pub body: String,
}

impl StubResponse {
    pub fn json(status: u16, body: Value) -> Self {
        Self {
            status,
            body: body.to_string(),
        }
    }
}

type Handler = Box<dyn Fn(&StubRequest, &str) -> StubResponse + Send + Sync>;

/// A scripted HTTP/1.1 server on `127.0.0.1:0`. Each route is a method, a path
/// and a function of the request and the stub's own base URL; anything else is
/// 404. Every request is recorded.
pub struct Stub {
    pub url: String,
    requests: Arc<Mutex<Vec<StubRequest>>>,
}

#[derive(Default)]
pub struct StubBuilder {
    routes: Vec<(String, String, Handler)>,
}

impl StubBuilder {
    pub fn route(
        mut self,
        method: &str,
        path: &str,
        handler: impl Fn(&StubRequest, &str) -> StubResponse + Send + Sync + 'static,
    ) -> Self {
        self.routes
            .push((method.to_owned(), path.to_owned(), Box::new(handler)));
        self
    }

    pub fn start(self) -> Stub {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind stub");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let requests = Arc::new(Mutex::new(Vec::new()));
        let routes = Arc::new(self.routes);
        let (seen, base) = (requests.clone(), url.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let (routes, seen, base) = (routes.clone(), seen.clone(), base.clone());
                std::thread::spawn(move || serve(stream, &routes, &seen, &base));
            }
        });
        Stub { url, requests }
    }
}

impl Stub {
    pub fn builder() -> StubBuilder {
        StubBuilder::default()
    }

    pub fn requests(&self) -> Vec<StubRequest> {
        self.requests.lock().expect("lock").clone()
    }

    /// Requests to `path`, in order.
    pub fn requests_to(&self, path: &str) -> Vec<StubRequest> {
        self.requests()
            .into_iter()
            .filter(|r| r.path == path)
            .collect()
    }
}

fn serve(
    stream: TcpStream,
    routes: &[(String, String, Handler)],
    seen: &Mutex<Vec<StubRequest>>,
    base: &str,
) {
    let mut reader = BufReader::new(stream.try_clone().expect("clone stream"));
    let mut line = String::new();
    if reader.read_line(&mut line).unwrap_or(0) == 0 {
        return;
    }
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or_default().to_owned();
    let target = parts.next().unwrap_or_default().to_owned();
    let (path, query) = match target.split_once('?') {
        Some((p, q)) => (p.to_owned(), q.to_owned()),
        None => (target, String::new()),
    };
    let mut headers = BTreeMap::new();
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header).unwrap_or(0) == 0 || header.trim().is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':') {
            headers.insert(name.trim().to_ascii_lowercase(), value.trim().to_owned());
        }
    }
    let length: usize = headers
        .get("content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0u8; length];
    let _ = reader.read_exact(&mut body);
    let request = StubRequest {
        method,
        path,
        query,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    };
    seen.lock().expect("lock").push(request.clone());
    let response = routes
        .iter()
        .find(|(m, p, _)| *m == request.method && *p == request.path)
        .map_or_else(
            || StubResponse::json(404, serde_json::json!({"error": "not_found"})),
            |(_, _, handler)| handler(&request, base),
        );
    let text = format!(
        "HTTP/1.1 {} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{}",
        response.status,
        response.body.len(),
        response.body
    );
    let mut stream = stream;
    let _ = stream.write_all(text.as_bytes());
}

/// A temporary home directory and working directory for one test.
pub struct Home {
    pub dir: tempfile::TempDir,
    bin: PathBuf,
}

impl Home {
    /// `bin` is the persona binary (`env!("CARGO_BIN_EXE_lua")`).
    pub fn new(bin: &str) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::create_dir(dir.path().join("home")).expect("home");
        std::fs::create_dir(dir.path().join("work")).expect("work");
        Self {
            dir,
            bin: PathBuf::from(bin),
        }
    }

    pub fn home(&self) -> PathBuf {
        self.dir.path().join("home")
    }

    /// The working directory commands run in (where `.env` is looked for).
    pub fn work(&self) -> PathBuf {
        self.dir.path().join("work")
    }

    /// The binary with only `HOME`, `PATH` and `vars` in its environment, run in
    /// [`Home::work`], stdin empty (not a terminal).
    pub fn cmd(&self, args: &[&str], vars: &[(&str, &str)]) -> Command {
        let mut cmd = self.bare_cmd(args, vars);
        cmd.stdin(Stdio::null());
        cmd
    }

    fn bare_cmd(&self, args: &[&str], vars: &[(&str, &str)]) -> Command {
        let mut cmd = Command::new(&self.bin);
        cmd.args(args)
            .env_clear()
            .env("HOME", self.home())
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .envs(vars.iter().copied())
            .current_dir(self.work());
        cmd
    }

    pub fn run(&self, args: &[&str], vars: &[(&str, &str)]) -> Run {
        Run(self.cmd(args, vars).output().expect("run persona binary"))
    }

    /// The binary running in the background with piped output, e.g. to act
    /// on a URL it prints while it waits.
    pub fn spawn(&self, args: &[&str], vars: &[(&str, &str)]) -> Running {
        let mut child = self
            .cmd(args, vars)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn persona binary");
        let (tx, lines) = mpsc::channel();
        let stderr = child.stderr.take().expect("piped");
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Running {
            child,
            lines,
            seen: Vec::new(),
        }
    }

    /// The binary on a pseudo-terminal (80x24, `TERM=xterm`), same environment
    /// as [`Home::cmd`].
    pub fn pty(&self, args: &[&str], vars: &[(&str, &str)]) -> Pty {
        let mut cmd = self.bare_cmd(args, vars);
        cmd.env("TERM", "xterm");
        let session = rexpect::session::spawn_command(cmd, Some(HANG.as_millis() as u64))
            .expect("spawn on a pty");
        Pty { session }
    }
}

/// A persona process started by [`Home::spawn`].
pub struct Running {
    child: Child,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Running {
    /// Reads stderr until a line satisfies `find`; returns what it found.
    pub fn stderr_until<T>(&mut self, find: impl Fn(&str) -> Option<T>) -> T {
        loop {
            let line = self.lines.recv_timeout(HANG).unwrap_or_else(|_| {
                panic!("not printed; stderr so far:\n{}", self.seen.join("\n"))
            });
            let found = find(&line);
            self.seen.push(line);
            if let Some(found) = found {
                return found;
            }
        }
    }

    /// Waits for the exit; the exit code and all of stderr.
    pub fn finish(mut self) -> (i32, String) {
        while let Ok(line) = self.lines.recv_timeout(HANG) {
            self.seen.push(line);
        }
        let status = self.child.wait().expect("wait");
        (status.code().expect("exit code"), self.seen.join("\n"))
    }
}

/// A plain HTTP GET of a loopback URL (the browser's part of a redirect);
/// returns the response text.
pub fn http_get(url: &str) -> String {
    let rest = url.strip_prefix("http://").expect("an http URL");
    let (host, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let mut stream = TcpStream::connect(host).expect("connect");
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    )
    .expect("send request");
    let mut response = String::new();
    let _ = stream.read_to_string(&mut response);
    response
}

/// A query parameter of a URL, percent-decoded.
pub fn query_param(url: &str, name: &str) -> Option<String> {
    let query = url.split_once('?')?.1;
    query.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=')?;
        (k == name).then(|| percent_decode(v))
    })
}

/// The outcome of a non-interactive run.
pub struct Run(pub Output);

impl Run {
    pub fn code(&self) -> i32 {
        self.0.status.code().expect("exited normally")
    }

    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.0.stdout).into_owned()
    }

    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.0.stderr).into_owned()
    }

    /// Panics with both streams unless the exit code is `code`.
    pub fn expect_code(self, code: i32) -> Self {
        assert_eq!(
            self.code(),
            code,
            "exit code\n--- stdout\n{}\n--- stderr\n{}",
            self.stdout(),
            self.stderr()
        );
        self
    }

    pub fn ok(self) -> Self {
        self.expect_code(0)
    }
}

/// A persona process on a pseudo-terminal.
pub struct Pty {
    pub session: rexpect::session::PtySession,
}

/// Keys as a terminal sends them.
pub const DOWN: &str = "\x1b[B";
pub const ENTER: &str = "\r";

impl Pty {
    /// Waits until `text` has been printed; returns what came before it.
    pub fn expect(&mut self, text: &str) -> String {
        // The session reads bytes as Latin-1 characters; match UTF-8 text
        // (emoji) in that form and decode what is returned.
        let latin1: String = text.bytes().map(char::from).collect();
        let before = self
            .session
            .exp_string(&latin1)
            .unwrap_or_else(|e| panic!("waiting for {text:?}: {e}"));
        from_latin1(&before)
    }

    /// Waits until the program has turned echo off for a password prompt.
    /// Typing earlier would be lost: the prompt flushes pending input when it
    /// switches modes (`TCSAFLUSH`), as `sudo` and `ssh` do.
    pub fn wait_for_hidden_input(&mut self) {
        use nix::sys::termios::{LocalFlags, tcgetattr};
        let start = std::time::Instant::now();
        loop {
            let termios = tcgetattr(&self.session.process.pty).expect("tcgetattr");
            if !termios.local_flags.contains(LocalFlags::ECHO) {
                return;
            }
            assert!(start.elapsed() < HANG, "the prompt never turned echo off");
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// The rest of the current line, without its line ending.
    pub fn read_line(&mut self) -> String {
        let line = self.session.read_line().expect("read a line");
        from_latin1(line.trim_end_matches('\r'))
    }

    pub fn send(&mut self, keys: &str) {
        self.session.send(keys).expect("send keys");
        self.session.flush().expect("flush");
    }

    pub fn send_line(&mut self, line: &str) {
        self.session.send_line(line).expect("send line");
    }

    /// Waits for the process to end; returns its exit code and the rest of
    /// its output.
    pub fn finish(mut self) -> (i32, String) {
        let rest = from_latin1(&self.session.exp_eof().unwrap_or_default());
        let status = self.session.process.wait().expect("wait");
        let code = match status {
            rexpect::process::wait::WaitStatus::Exited(_, code) => code,
            other => panic!("ended abnormally: {other:?}"),
        };
        (code, rest)
    }
}

fn from_latin1(text: &str) -> String {
    let bytes: Vec<u8> = text.chars().map(|c| c as u32 as u8).collect();
    String::from_utf8_lossy(&bytes).into_owned()
}

/// Where a browser step ended.
#[derive(Debug)]
pub enum Landing {
    /// A page of the server: its URL and HTML.
    Page { url: String, body: String },
    /// A redirect away from the server (to the CLI's loopback), not followed.
    Away(String),
}

impl Landing {
    pub fn body(&self) -> &str {
        match self {
            Landing::Page { body, .. } => body,
            Landing::Away(url) => panic!("expected a page, was sent to {url}"),
        }
    }
}

/// A scripted browser for tesserad's pages: a cookie jar, same-origin
/// redirects, and forms submitted with their hidden fields (CSRF included).
pub struct Browser {
    agent: ureq::Agent,
    origin: String,
    cookies: std::cell::RefCell<BTreeMap<String, String>>,
}

impl Browser {
    pub fn new(origin: &str) -> Self {
        Self {
            agent: ureq::Agent::config_builder()
                .http_status_as_error(false)
                .max_redirects(0)
                .build()
                .into(),
            origin: origin.trim_end_matches('/').to_owned(),
            cookies: Default::default(),
        }
    }

    /// GET `url`, following redirects within the server.
    pub fn go(&self, url: &str) -> Landing {
        self.step(url.to_owned(), None)
    }

    /// Submits the page's form whose action is `action`, with `fill` set (a
    /// button's `name`/`value` included).
    pub fn submit(&self, page: &Landing, action: &str, fill: &[(&str, &str)]) -> Landing {
        let Landing::Page { url, body } = page else {
            panic!("no page to submit a form on: {page:?}");
        };
        let mut fields = form_fields(body, action)
            .unwrap_or_else(|| panic!("no form posting to {action} on {url}:\n{body}"));
        for (name, value) in fill {
            fields.retain(|(n, _)| n != name);
            fields.push(((*name).to_owned(), (*value).to_owned()));
        }
        let target = url::Url::parse(url)
            .expect("page URL")
            .join(action)
            .expect("action");
        self.step(target.to_string(), Some(fields))
    }

    /// Signs in with a code emailed to `email` (read from the server's
    /// outbox), starting from `url`; returns the page signing in led to.
    pub fn sign_in(&self, server: &Tesserad, email: &str, url: &str) -> Landing {
        let page = self.go(url);
        let page = self.submit(&page, "/signin/code/request", &[("email", email)]);
        let code = server.otp_code(email);
        self.submit(&page, "/signin/code", &[("code", &code)])
    }

    /// Signs in and approves the device login whose verification URL is `url`.
    pub fn approve_device(&self, server: &Tesserad, email: &str, url: &str) -> Landing {
        let mut page = self.sign_in(server, email, url);
        if form_fields(page.body(), "/device/decision").is_none() {
            page = self.submit(&page, "/device", &[]);
        }
        self.submit(&page, "/device/decision", &[("decision", "approve")])
    }

    fn step(&self, mut url: String, mut form: Option<Vec<(String, String)>>) -> Landing {
        for _ in 0..20 {
            let cookie = self
                .cookies
                .borrow()
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join("; ");
            let mut response = match form.take() {
                Some(fields) => {
                    let body = url::form_urlencoded::Serializer::new(String::new())
                        .extend_pairs(fields)
                        .finish();
                    self.agent
                        .post(&url)
                        .header("cookie", &cookie)
                        .header("origin", &self.origin)
                        .content_type("application/x-www-form-urlencoded")
                        .send(body)
                }
                None => self.agent.get(&url).header("cookie", &cookie).call(),
            }
            .unwrap_or_else(|e| panic!("{url}: {e}"));
            for header in response.headers().get_all("set-cookie") {
                let pair = header
                    .to_str()
                    .unwrap_or_default()
                    .split(';')
                    .next()
                    .unwrap_or_default();
                if let Some((name, value)) = pair.split_once('=') {
                    let mut jar = self.cookies.borrow_mut();
                    if value.is_empty() {
                        jar.remove(name);
                    } else {
                        jar.insert(name.to_owned(), value.to_owned());
                    }
                }
            }
            let status = response.status().as_u16();
            if (300..400).contains(&status) {
                let location = response.headers()["location"].to_str().expect("location");
                let next = url::Url::parse(&url)
                    .expect("URL")
                    .join(location)
                    .expect("location URL");
                if !next.as_str().starts_with(&self.origin) {
                    return Landing::Away(next.to_string());
                }
                url = next.to_string();
                continue;
            }
            let body = response.body_mut().read_to_string().unwrap_or_default();
            assert!(status < 400, "{url} answered {status}:\n{body}");
            return Landing::Page { url, body };
        }
        panic!("more than 20 redirects from {url}");
    }
}

/// The named inputs of the form posting to `action` (`value` or empty).
fn form_fields(html: &str, action: &str) -> Option<Vec<(String, String)>> {
    let needle = format!("action=\"{action}\"");
    let start = html.find(&needle)?;
    let end = html[start..]
        .find("</form>")
        .map_or(html.len(), |i| start + i);
    let form = &html[start..end];
    let mut fields = Vec::new();
    let mut rest = form;
    while let Some(i) = rest.find("<input") {
        let tag = &rest[i..];
        let tag = &tag[..tag.find('>').unwrap_or(tag.len())];
        if let Some(name) = html_attribute(tag, "name") {
            fields.push((name, html_attribute(tag, "value").unwrap_or_default()));
        }
        rest = &rest[i + tag.len()..];
    }
    Some(fields)
}

fn html_attribute(tag: &str, name: &str) -> Option<String> {
    let needle = format!(" {name}=\"");
    let start = tag.find(&needle)? + needle.len();
    let len = tag[start..].find('"')?;
    Some(unescape_html(&tag[start..start + len]))
}

/// Undoes HTML escaping: the named entities templates emit and numeric ones.
fn unescape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        rest = &rest[i..];
        let Some(end) = rest.find(';').filter(|&end| end <= 10) else {
            out.push('&');
            rest = &rest[1..];
            continue;
        };
        let entity = &rest[1..end];
        let decoded = match entity {
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            _ => entity
                .strip_prefix("#x")
                .or_else(|| entity.strip_prefix("#X"))
                .and_then(|hex| u32::from_str_radix(hex, 16).ok())
                .or_else(|| entity.strip_prefix('#').and_then(|dec| dec.parse().ok()))
                .and_then(char::from_u32),
        };
        match decoded {
            Some(c) => {
                out.push(c);
                rest = &rest[end + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_entities_are_undone_once() {
        assert_eq!(
            unescape_html("/a?x=1&#38;y=2&amp;z=&lt;3&gt;&#x27;&q"),
            "/a?x=1&y=2&z=<3>'&q"
        );
        assert_eq!(unescape_html("&amp;#38;"), "&#38;");
    }
}
