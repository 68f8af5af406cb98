//! Authorization code grant with PKCE (RFC 6749 §4.1, RFC 7636 `S256`) for a
//! native app: a loopback redirect on `127.0.0.1` with an OS-chosen port
//! (RFC 8252 §7.3), and a pasted redirect URL or code when no browser can
//! reach that port (SSH, no display).

use super::discovery::require_endpoint;
use super::error::OAuthError;
use super::http::HttpClient;
use super::token::{Client, token_request};
use crate::transport::Transport;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};
use std::collections::VecDeque;
use std::ffi::OsString;
use std::io::{self, BufRead, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tessera_proto::OAuthErrorBody;
use tessera_proto::secret::constant_time_eq;
use tessera_proto::token::{ServerMetadata, TokenResponse};

/// The PKCE code verifier (RFC 7636 §4.1): the secret half, sent only to the
/// token endpoint. It cannot be printed, serialized or built without its
/// challenge.
pub struct PkceVerifier(String);

/// The PKCE code challenge (RFC 7636 §4.2): `BASE64URL(SHA256(verifier))`,
/// sent in the authorization request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PkceChallenge(String);

impl PkceVerifier {
    /// A fresh verifier (32 random bytes, 43 characters) and its `S256`
    /// challenge.
    pub fn generate() -> (PkceVerifier, PkceChallenge) {
        Self::from_secret(random_urlsafe(32))
    }

    fn from_secret(verifier: String) -> (PkceVerifier, PkceChallenge) {
        let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
        (PkceVerifier(verifier), PkceChallenge(challenge))
    }

    pub fn expose_secret(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for PkceVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PkceVerifier([redacted])")
    }
}

impl PkceChallenge {
    /// The only method Tessera sends; `plain` would defeat PKCE.
    pub const METHOD: &'static str = "S256";

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

fn random_urlsafe(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::fill(buf.as_mut_slice());
    URL_SAFE_NO_PAD.encode(buf)
}

/// Opens a URL in the user's browser. Injected so tests can play the browser.
pub trait BrowserOpener {
    fn open(&self, url: &str) -> io::Result<()>;
}

/// The desktop's default browser (`webbrowser`, http(s) URLs only).
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemBrowser;

impl BrowserOpener for SystemBrowser {
    fn open(&self, url: &str) -> io::Result<()> {
        webbrowser::open(url)
    }
}

/// Whether a browser on this machine could reach the loopback redirect.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BrowserAvailability {
    Usable,
    /// Why not, in words for the user.
    Unavailable(&'static str),
}

/// Decides whether to open a browser at all. Over SSH a browser would open on
/// the remote machine (or not at all) and could not reach our loopback port
/// from the user's desk; on Linux without a display, `webbrowser` would fall
/// back to a text browser inside the terminal. `env` reads an environment
/// variable (injected for tests).
pub fn browser_availability(
    no_browser: bool,
    env: &dyn Fn(&str) -> Option<OsString>,
) -> BrowserAvailability {
    let set = |name: &str| env(name).is_some_and(|v| !v.is_empty());
    if no_browser {
        return BrowserAvailability::Unavailable("--no-browser was given");
    }
    if set("SSH_CONNECTION") || set("SSH_TTY") {
        return BrowserAvailability::Unavailable("this is an SSH session");
    }
    let needs_display = cfg!(all(unix, not(target_os = "macos")));
    if needs_display && !set("BROWSER") && !set("DISPLAY") && !set("WAYLAND_DISPLAY") {
        return BrowserAvailability::Unavailable("there is no graphical display");
    }
    BrowserAvailability::Usable
}

/// What a browser login needs to know.
#[derive(Clone, Copy, Debug)]
pub struct WebLogin<'a> {
    pub authorization_endpoint: &'a str,
    pub token_endpoint: &'a str,
    pub client: &'a Client,
    /// Space-separated scopes; the server's default when `None`.
    pub scope: Option<&'a str>,
    /// When set, an `iss` parameter in the redirect must equal it exactly
    /// (RFC 9207 §2.4, mix-up defence). Pass the discovered issuer.
    pub issuer: Option<&'a str>,
    /// The server advertises `authorization_response_iss_parameter_supported`:
    /// a redirect without `iss` is refused too, since a response from this
    /// server always has one (RFC 9207 §2.4; RFC 9700 §4.4.2).
    pub iss_required: bool,
    /// More authorization request parameters (`prompt`, `login_hint`, …).
    pub extra_params: &'a [(&'a str, &'a str)],
    /// How long to wait for the redirect (or paste) before giving up.
    pub timeout: Duration,
}

impl<'a> WebLogin<'a> {
    /// Five minutes to finish, no scope, no extra parameters.
    pub fn new(
        authorization_endpoint: &'a str,
        token_endpoint: &'a str,
        client: &'a Client,
    ) -> Self {
        Self {
            authorization_endpoint,
            token_endpoint,
            client,
            scope: None,
            issuer: None,
            iss_required: false,
            extra_params: &[],
            timeout: Duration::from_secs(300),
        }
    }

    /// A login against a discovered server: its endpoints, and the RFC 9207
    /// checks its metadata calls for. The way every caller should start one.
    pub fn for_server(meta: &'a ServerMetadata, client: &'a Client) -> Result<Self, OAuthError> {
        let authorize = require_endpoint(&meta.authorization_endpoint, "authorization endpoint")?;
        Ok(Self {
            issuer: Some(&meta.issuer),
            iss_required: meta.authorization_response_iss_parameter_supported,
            ..Self::new(authorize, &meta.token_endpoint, client)
        })
    }
}

/// What the caller should tell the user, reported once before waiting.
#[derive(Debug)]
pub enum WebLoginEvent<'a> {
    /// The browser was asked to open `url`.
    BrowserOpened { url: &'a str },
    /// No browser: print `url`. The flow now also accepts the redirect URL the
    /// browser ended on, or the bare code, from the paste reader.
    /// `open_error` says why opening failed, when it was tried.
    OpenManually {
        url: &'a str,
        open_error: Option<String>,
    },
}

/// Runs the whole browser login and returns the token response.
///
/// Binds `127.0.0.1:0`, builds the authorization URL with a fresh PKCE pair
/// and `state`, asks `browser` to open it (`None`: do not try, e.g. over SSH
/// — see [`browser_availability`]) and waits up to `login.timeout` for the
/// redirect to `http://127.0.0.1:PORT/callback`. When the URL had to be
/// shown instead, lines from `paste` (a pasted redirect URL or code) are
/// accepted too, whichever comes first; for stdin pass
/// `Box::new(io::BufReader::new(io::stdin()))`. The loopback page tells the
/// user to return to the terminal, or shows the error the server redirected
/// with. Then the code is exchanged with its verifier.
///
/// A read from `paste` cannot be cancelled: when the browser wins the race,
/// the reading thread stays blocked until a line or end of input arrives and
/// then drops it. A caller that reads stdin again after the login should pass
/// a paste reader it controls instead of stdin itself.
pub fn login_with_browser(
    http: &dyn HttpClient,
    login: &WebLogin<'_>,
    browser: Option<&dyn BrowserOpener>,
    paste: Box<dyn BufRead + Send>,
    on_event: &mut dyn FnMut(WebLoginEvent<'_>),
) -> Result<TokenResponse, OAuthError> {
    let listener = TcpListener::bind(("127.0.0.1", 0)).map_err(|source| OAuthError::Io {
        context: "could not listen on a loopback port for the login redirect",
        source,
    })?;
    let addr = listener.local_addr().map_err(|source| OAuthError::Io {
        context: "could not read the loopback port",
        source,
    })?;
    let redirect_uri = format!("http://{addr}/callback");
    let (verifier, challenge) = PkceVerifier::generate();
    let expected = Expected {
        state: random_urlsafe(16),
        issuer: login.issuer.map(str::to_owned),
        iss_required: login.iss_required,
    };
    let url = authorization_url(login, &redirect_uri, &challenge, &expected.state)?;

    let (tx, rx) = mpsc::channel();
    let stop = Arc::new(AtomicBool::new(false));
    spawn_listener(listener, expected.clone(), tx.clone(), stop.clone());

    // The browser carries the user's sign-in: it is opened only at https or
    // this machine, whatever the metadata names (the address is shown either
    // way, for the user to open by choice), as the device login does.
    let browser = browser.filter(|_| Transport::default().check_url(&url).is_ok());
    let open_result = browser.map(|b| b.open(&url));
    match open_result {
        Some(Ok(())) => on_event(WebLoginEvent::BrowserOpened { url: &url }),
        failed => {
            on_event(WebLoginEvent::OpenManually {
                url: &url,
                open_error: failed.and_then(Result::err).map(|e| e.to_string()),
            });
            spawn_paste_reader(paste, expected, tx);
        }
    }

    let outcome = match rx.recv_timeout(login.timeout) {
        Ok(outcome) => outcome,
        Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => {
            Err(OAuthError::TimedOut {
                what: "the browser login to finish",
                after: login.timeout,
            })
        }
    };
    stop_listener(&stop, addr);
    let code = outcome?;

    token_request(
        http,
        login.token_endpoint,
        Some(login.client),
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", &redirect_uri),
            ("code_verifier", verifier.expose_secret()),
        ],
    )
}

/// RFC 6749 §4.1.1 with RFC 7636 §4.3; keeps any query the endpoint has.
fn authorization_url(
    login: &WebLogin<'_>,
    redirect_uri: &str,
    challenge: &PkceChallenge,
    state: &str,
) -> Result<String, OAuthError> {
    let mut url =
        url::Url::parse(login.authorization_endpoint).map_err(|e| OAuthError::InvalidUrl {
            url: login.authorization_endpoint.to_owned(),
            reason: e.to_string(),
        })?;
    {
        let mut query = url.query_pairs_mut();
        query
            .append_pair("response_type", "code")
            .append_pair("client_id", login.client.id())
            .append_pair("redirect_uri", redirect_uri);
        if let Some(scope) = login.scope {
            query.append_pair("scope", scope);
        }
        query
            .append_pair("state", state)
            .append_pair("code_challenge", challenge.as_str())
            .append_pair("code_challenge_method", PkceChallenge::METHOD)
            .extend_pairs(login.extra_params);
    }
    Ok(url.into())
}

/// What a genuine redirect for this login carries.
#[derive(Clone)]
struct Expected {
    state: String,
    issuer: Option<String>,
    iss_required: bool,
}

type Outcome = Result<String, OAuthError>;

/// Reads an authorization response (RFC 6749 §4.1.2, §4.1.2.1). `None` when
/// the query is not one (no `code`, no `error`): a stray request to ignore.
fn interpret_callback(query: &str, expected: &Expected) -> Option<Outcome> {
    let mut code = None;
    let mut state = None;
    let mut error = None;
    let mut description = None;
    let mut iss = None;
    for (key, value) in url::form_urlencoded::parse(query.as_bytes()) {
        let slot = match key.as_ref() {
            "code" => &mut code,
            "state" => &mut state,
            "error" => &mut error,
            "error_description" => &mut description,
            "iss" => &mut iss,
            _ => continue,
        };
        *slot = Some(value.into_owned());
    }
    if code.is_none() && error.is_none() {
        return None;
    }
    let state_ok = state
        .as_deref()
        .is_some_and(|s| constant_time_eq(s.as_bytes(), expected.state.as_bytes()));
    if !state_ok {
        return Some(Err(OAuthError::StateMismatch));
    }
    // Checked before the error too: an error redirect from another server
    // must not be shown as this server's answer.
    match (iss, &expected.issuer) {
        (Some(found), Some(issuer)) if found != *issuer => {
            return Some(Err(OAuthError::IssuerMismatch {
                expected: issuer.clone(),
                found,
            }));
        }
        (None, Some(issuer)) if expected.iss_required => {
            return Some(Err(OAuthError::MissingIssuer {
                expected: issuer.clone(),
            }));
        }
        _ => {}
    }
    if let Some(error) = error {
        let error = serde_json::from_value(serde_json::Value::String(error))
            .expect("unknown codes deserialize as Other");
        return Some(Err(OAuthError::Rejected {
            status: None,
            body: OAuthErrorBody {
                error,
                error_description: description,
            },
        }));
    }
    code.map(Ok)
}

/// A pasted line: the full redirect URL (checked like the loopback request),
/// or the bare code. `None` for a blank line.
fn interpret_paste(text: &str, expected: &Expected) -> Option<Outcome> {
    let text = text.trim();
    if text.is_empty() {
        return None;
    }
    if text.starts_with("http://") || text.starts_with("https://") {
        let query = url::Url::parse(text)
            .ok()
            .and_then(|u| u.query().map(str::to_owned))
            .unwrap_or_default();
        return Some(interpret_callback(&query, expected).unwrap_or_else(|| {
            Err(OAuthError::InvalidInput(
                "the pasted URL carries no authorization code; paste the whole address the browser ended on"
                    .to_owned(),
            ))
        }));
    }
    if text
        .chars()
        .any(|c| c.is_whitespace() || "?&=#/".contains(c))
    {
        return Some(Err(OAuthError::InvalidInput(
            "the pasted text is neither the redirect URL nor an authorization code".to_owned(),
        )));
    }
    Some(Ok(text.to_owned()))
}

fn spawn_paste_reader(mut paste: Box<dyn BufRead + Send>, expected: Expected, tx: Sender<Outcome>) {
    // A blocked read of stdin cannot be cancelled; the thread ends with the
    // process, and the channel drops its answer if the login finished first.
    std::thread::spawn(move || {
        loop {
            // Bounded, and read as bytes: `lines()` grew a line without end
            // (stdin from /dev/zero) and stopped reading for good at the
            // first line that was not UTF-8, leaving the login to time out
            // with a good paste after it ignored.
            let mut line = Vec::new();
            match paste
                .by_ref()
                .take(MAX_PASTE_LINE as u64 + 1)
                .read_until(b'\n', &mut line)
            {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
            let outcome = if line.len() > MAX_PASTE_LINE {
                Some(Err(OAuthError::InvalidInput(format!(
                    "the pasted text is longer than {} KiB; paste the address the browser ended on",
                    MAX_PASTE_LINE / 1024
                ))))
            } else {
                match std::str::from_utf8(&line) {
                    Ok(text) => interpret_paste(text, &expected),
                    Err(_) => Some(Err(OAuthError::InvalidInput(
                        "the pasted text is not UTF-8; paste the address the browser ended on"
                            .to_owned(),
                    ))),
                }
            };
            if let Some(outcome) = outcome {
                let _ = tx.send(outcome);
                return;
            }
        }
    });
}

/// The longest pasted line read: a redirect address is a few hundred bytes.
const MAX_PASTE_LINE: usize = 64 * 1024;

fn spawn_listener(
    listener: TcpListener,
    expected: Expected,
    tx: Sender<Outcome>,
    stop: Arc<AtomicBool>,
) {
    std::thread::spawn(move || {
        let waiting = Arc::new(Mutex::new(Waiting::default()));
        for stream in listener.incoming() {
            if stop.load(Ordering::SeqCst) {
                return;
            }
            let Ok(stream) = stream else { continue };
            let Ok(id) = waiting_lock(&waiting).admit(&stream) else {
                continue;
            };
            let (expected, tx, waiting) = (expected.clone(), tx.clone(), waiting.clone());
            let handle = move || {
                let mut stream = stream;
                let target = read_request_target(&mut stream);
                waiting_lock(&waiting).forget(id);
                if let Some(target) = target {
                    answer_request(stream, &target, &expected, &tx);
                }
            };
            // Its closure is gone: the connection is dropped, and its entry
            // goes with the next eviction.
            let _ = std::thread::Builder::new().spawn(handle);
        }
    });
}

/// Connections that have not yet sent their request head, oldest first.
/// One thread per connection (browsers open speculative connections that
/// never send a request), up to [`MAX_WAITING`]: when a new one comes and
/// all are taken, the oldest is cut off, not the new one. Refusing the new
/// one let a local process that kept the slots filled with idle
/// connections turn the browser's redirect away for as long as it liked;
/// now it would have to open them faster than the browser sends the few
/// bytes of its request after connecting.
#[derive(Default)]
struct Waiting {
    next_id: u64,
    streams: VecDeque<(u64, TcpStream)>,
}

impl Waiting {
    fn admit(&mut self, stream: &TcpStream) -> io::Result<u64> {
        let handle = stream.try_clone()?;
        if self.streams.len() >= MAX_WAITING
            && let Some((_, oldest)) = self.streams.pop_front()
        {
            // Only reading is shut: its thread's read ends (after any bytes
            // already received), and a head that arrived is still answered.
            let _ = oldest.shutdown(Shutdown::Read);
        }
        let id = self.next_id;
        self.next_id += 1;
        self.streams.push_back((id, handle));
        Ok(id)
    }

    fn forget(&mut self, id: u64) {
        self.streams.retain(|(other, _)| *other != id);
    }
}

fn waiting_lock(waiting: &Mutex<Waiting>) -> std::sync::MutexGuard<'_, Waiting> {
    waiting
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Ends the accept loop: set the flag, then wake `accept` with a connection.
fn stop_listener(stop: &AtomicBool, addr: SocketAddr) {
    stop.store(true, Ordering::SeqCst);
    let _ = TcpStream::connect_timeout(&addr, Duration::from_secs(1));
}

/// Connections the redirect listener waits on for a request at once; a
/// browser opens a few.
const MAX_WAITING: usize = 32;
/// How long a connection has to send its request head, in all.
const HEAD_DEADLINE: Duration = Duration::from_secs(10);

fn answer_request(mut stream: TcpStream, target: &str, expected: &Expected, tx: &Sender<Outcome>) {
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    if path != "/callback" {
        respond(
            &mut stream,
            "404 Not Found",
            &page(
                "Not found",
                "This address only receives the login redirect.",
            ),
        );
        return;
    }
    match interpret_callback(query, expected) {
        None => respond(
            &mut stream,
            "400 Bad Request",
            &page(
                "Nothing to do",
                "This address only receives the login redirect.",
            ),
        ),
        Some(Ok(code)) => {
            respond(
                &mut stream,
                "200 OK",
                &page(
                    "Login received",
                    "You can close this tab and return to the terminal.",
                ),
            );
            let _ = tx.send(Ok(code));
        }
        // Not this login's answer (an old tab's, or from anyone on this
        // machine who found the port): said, and the login goes on waiting,
        // so that nobody can end it by knocking.
        Some(Err(OAuthError::StateMismatch)) => respond(
            &mut stream,
            "400 Bad Request",
            &page(
                "Not this login",
                "This is not the answer to the login the terminal is waiting for.",
            ),
        ),
        Some(Err(err)) => {
            respond(
                &mut stream,
                "400 Bad Request",
                &page(
                    "Login failed",
                    &format!("{err}. Return to the terminal to try again."),
                ),
            );
            let _ = tx.send(Err(err));
        }
    }
}

/// The request target of a `GET`, from a request head of at most 8 KiB
/// sent within [`HEAD_DEADLINE`] (in all, not per read: a byte at a time
/// does not keep the connection).
fn read_request_target(stream: &mut TcpStream) -> Option<String> {
    let deadline = std::time::Instant::now() + HEAD_DEADLINE;
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 8192 {
        let left = deadline.checked_duration_since(std::time::Instant::now())?;
        stream
            .set_read_timeout(Some(left.max(Duration::from_millis(1))))
            .ok()?;
        let n = stream.read(&mut buf).ok()?;
        if n == 0 {
            break;
        }
        head.extend_from_slice(&buf[..n]);
    }
    let head = String::from_utf8_lossy(&head);
    let mut parts = head.lines().next()?.split(' ');
    match (parts.next(), parts.next()) {
        (Some("GET"), Some(target)) => Some(target.to_owned()),
        _ => None,
    }
}

fn respond(stream: &mut TcpStream, status: &str, body: &str) {
    let response = format!(
        "HTTP/1.1 {status}\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: {}\r\n\
         Cache-Control: no-store\r\nReferrer-Policy: no-referrer\r\n\
         Content-Security-Policy: default-src 'none'; style-src 'unsafe-inline'\r\n\
         Connection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.write_all(response.as_bytes());
}

fn page(title: &str, message: &str) -> String {
    format!(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{title}</title>\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <style>body{{font-family:system-ui,sans-serif;display:flex;align-items:center;\
         justify-content:center;min-height:90vh;margin:0;background:#f6f7f9;color:#1f2328}}\
         main{{background:#fff;padding:2rem 2.5rem;border-radius:12px;\
         box-shadow:0 1px 4px rgba(0,0,0,.12);max-width:32rem}}h1{{font-size:1.4rem}}</style>\
         </head><body><main><h1>{title}</h1><p>{}</p></main></body></html>",
        html_escape(message)
    )
}

/// The message may quote the server's `error_description`, which came from
/// the (untrusted) query string.
fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::token::testing::{FakeHttp, TOKEN_JSON};
    use super::*;
    use std::collections::HashMap;
    use std::sync::Mutex;
    use tessera_proto::OAuthErrorCode;

    /// The query parameters of an authorization URL.
    fn query_of(url: &str) -> HashMap<String, String> {
        url::Url::parse(url)
            .unwrap()
            .query_pairs()
            .into_owned()
            .collect()
    }

    fn expected() -> Expected {
        Expected {
            state: "st4te".into(),
            issuer: Some("http://as.test".into()),
            iss_required: false,
        }
    }

    #[test]
    fn pkce_matches_rfc7636_appendix_b() {
        let (verifier, challenge) =
            PkceVerifier::from_secret("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk".into());
        assert_eq!(
            challenge.as_str(),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
        assert_eq!(format!("{verifier:?}"), "PkceVerifier([redacted])");
    }

    #[test]
    fn generated_pairs_are_fresh_and_well_formed() {
        let (a, ca) = PkceVerifier::generate();
        let (b, _) = PkceVerifier::generate();
        assert_eq!(a.expose_secret().len(), 43);
        assert_ne!(a.expose_secret(), b.expose_secret());
        let (_, recomputed) = PkceVerifier::from_secret(a.expose_secret().to_owned());
        assert_eq!(ca, recomputed);
        assert!(!format!("{a:?}").contains(a.expose_secret()));
    }

    #[test]
    fn authorization_url_carries_pkce_state_and_extras() {
        let client = Client::public("cli");
        let mut login = WebLogin::new(
            "http://as.test/auth?tenant=1",
            "http://as.test/token",
            &client,
        );
        login.scope = Some("api:read offline_access");
        login.extra_params = &[("prompt", "consent")];
        let (_, challenge) = PkceVerifier::generate();
        let url =
            authorization_url(&login, "http://127.0.0.1:5/callback", &challenge, "s1").unwrap();
        let query = query_of(&url);
        assert_eq!(query["tenant"], "1");
        assert_eq!(query["response_type"], "code");
        assert_eq!(query["client_id"], "cli");
        assert_eq!(query["redirect_uri"], "http://127.0.0.1:5/callback");
        assert_eq!(query["scope"], "api:read offline_access");
        assert_eq!(query["state"], "s1");
        assert_eq!(query["code_challenge"], challenge.as_str());
        assert_eq!(query["code_challenge_method"], "S256");
        assert_eq!(query["prompt"], "consent");
    }

    #[test]
    fn callback_interpretation() {
        let e = expected();
        assert_eq!(
            interpret_callback("code=c1&state=st4te&iss=http%3A%2F%2Fas.test", &e)
                .unwrap()
                .unwrap(),
            "c1"
        );
        assert!(interpret_callback("", &e).is_none());
        assert!(interpret_callback("foo=bar", &e).is_none());
        assert!(matches!(
            interpret_callback("code=c1&state=other", &e).unwrap(),
            Err(OAuthError::StateMismatch)
        ));
        assert!(matches!(
            interpret_callback("code=c1", &e).unwrap(),
            Err(OAuthError::StateMismatch)
        ));
        assert!(matches!(
            interpret_callback("code=c1&state=st4te&iss=http%3A%2F%2Fevil.test", &e).unwrap(),
            Err(OAuthError::IssuerMismatch { .. })
        ));
        let denied = interpret_callback(
            "error=access_denied&error_description=no+thanks&state=st4te",
            &e,
        )
        .unwrap()
        .unwrap_err();
        assert_eq!(denied.oauth_code(), Some(&OAuthErrorCode::AccessDenied));
        assert!(denied.to_string().contains("no thanks"));
        // An error with a forged state is a state mismatch, not a denial.
        assert!(matches!(
            interpret_callback("error=access_denied&state=x", &e).unwrap(),
            Err(OAuthError::StateMismatch)
        ));
    }

    #[test]
    fn issuer_checks_follow_rfc9207() {
        let required = Expected {
            iss_required: true,
            ..expected()
        };
        let ok = "code=c1&state=st4te&iss=http%3A%2F%2Fas.test";
        assert_eq!(interpret_callback(ok, &required).unwrap().unwrap(), "c1");
        assert!(matches!(
            interpret_callback("code=c1&state=st4te", &required).unwrap(),
            Err(OAuthError::MissingIssuer { .. })
        ));
        // Without the metadata flag a missing `iss` is fine (RFC 9207 §2.4).
        assert!(interpret_callback("code=c1&state=st4te", &expected()).is_some_and(|r| r.is_ok()));
        // Simple string comparison: a trailing slash is another issuer.
        assert!(matches!(
            interpret_callback(
                "code=c1&state=st4te&iss=http%3A%2F%2Fas.test%2F",
                &expected()
            )
            .unwrap(),
            Err(OAuthError::IssuerMismatch { .. })
        ));
        // An error from another server is a mix-up, not a denial.
        assert!(matches!(
            interpret_callback(
                "error=access_denied&state=st4te&iss=http%3A%2F%2Fevil.test",
                &expected()
            )
            .unwrap(),
            Err(OAuthError::IssuerMismatch { .. })
        ));
        assert!(matches!(
            interpret_callback("error=access_denied&state=st4te", &required).unwrap(),
            Err(OAuthError::MissingIssuer { .. })
        ));
    }

    #[test]
    fn a_login_for_a_server_takes_its_issuer_rules_from_metadata() {
        let client = Client::public("cli");
        let mut meta: ServerMetadata = serde_json::from_str(
            r#"{"issuer":"http://as.test","token_endpoint":"http://as.test/token","authorization_endpoint":"http://as.test/auth","authorization_response_iss_parameter_supported":true}"#,
        )
        .unwrap();
        let login = WebLogin::for_server(&meta, &client).unwrap();
        assert_eq!(login.issuer, Some("http://as.test"));
        assert!(login.iss_required);
        assert_eq!(login.authorization_endpoint, "http://as.test/auth");
        meta.authorization_endpoint = None;
        assert!(matches!(
            WebLogin::for_server(&meta, &client),
            Err(OAuthError::MissingEndpoint(_))
        ));
    }

    #[test]
    fn a_redirect_without_iss_from_a_server_that_sends_it_is_not_exchanged() {
        let http = FakeHttp::default().reply(200, TOKEN_JSON);
        let client = Client::public("cli");
        let mut login = WebLogin::new("https://as.test/auth", "http://as.test/token", &client);
        login.issuer = Some("http://as.test");
        login.iss_required = true;
        let browser = RedirectingBrowser::new("code=c&state={state}");
        let err =
            login_with_browser(&http, &login, Some(&browser), no_paste(), &mut |_| {}).unwrap_err();
        assert!(matches!(err, OAuthError::MissingIssuer { .. }), "{err:?}");
        assert!(err.to_string().contains("RFC 9207"));
        assert_eq!(http.count(), 0, "no code exchange");
        let browser = RedirectingBrowser::new("code=c&state={state}&iss=http%3A%2F%2Fas.test");
        login_with_browser(&http, &login, Some(&browser), no_paste(), &mut |_| {}).unwrap();
        assert_eq!(http.count(), 1);
    }

    proptest::proptest! {
        /// The redirect's query and the pasted text come from outside: never
        /// a panic, and never a code without this login's state.
        #[test]
        fn outside_input_never_panics_or_skips_the_state(input in "\\PC{0,80}") {
            let e = expected();
            if let Some(Ok(_)) = interpret_callback(&input, &e) {
                proptest::prop_assert!(input.contains("state=st4te"));
            }
            let _ = interpret_paste(&input, &e);
        }
    }

    #[test]
    fn paste_interpretation() {
        let e = expected();
        assert!(interpret_paste("   ", &e).is_none());
        assert_eq!(
            interpret_paste(" c0de-1_x \n", &e).unwrap().unwrap(),
            "c0de-1_x"
        );
        assert_eq!(
            interpret_paste("http://127.0.0.1:4444/callback?code=c2&state=st4te", &e)
                .unwrap()
                .unwrap(),
            "c2"
        );
        assert!(matches!(
            interpret_paste("http://127.0.0.1:4444/callback?code=c2&state=bad", &e).unwrap(),
            Err(OAuthError::StateMismatch)
        ));
        assert!(matches!(
            interpret_paste("http://127.0.0.1:4444/callback", &e).unwrap(),
            Err(OAuthError::InvalidInput(_))
        ));
        assert!(matches!(
            interpret_paste("two words", &e).unwrap(),
            Err(OAuthError::InvalidInput(_))
        ));
    }

    #[test]
    fn browser_availability_rules() {
        let env = |vars: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                vars.iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| OsString::from(*v))
            }
        };
        let desktop = env(&[("DISPLAY", ":0")]);
        assert_eq!(
            browser_availability(false, &desktop),
            BrowserAvailability::Usable
        );
        assert!(matches!(
            browser_availability(true, &desktop),
            BrowserAvailability::Unavailable(_)
        ));
        let ssh = env(&[
            ("DISPLAY", ":0"),
            ("SSH_CONNECTION", "1.2.3.4 5 6.7.8.9 22"),
        ]);
        assert_eq!(
            browser_availability(false, &ssh),
            BrowserAvailability::Unavailable("this is an SSH session")
        );
        let tty = env(&[("DISPLAY", ":0"), ("SSH_TTY", "/dev/pts/1")]);
        assert!(matches!(
            browser_availability(false, &tty),
            BrowserAvailability::Unavailable(_)
        ));
        if cfg!(all(unix, not(target_os = "macos"))) {
            let headless = env(&[]);
            assert_eq!(
                browser_availability(false, &headless),
                BrowserAvailability::Unavailable("there is no graphical display")
            );
        }
    }

    /// Plays the browser: reads the authorization URL and requests the
    /// loopback redirect with the given query (`{state}` is replaced).
    struct RedirectingBrowser {
        query: &'static str,
        page: Mutex<String>,
        /// Every page, when `query` is several redirects (`a|b`).
        pages: Mutex<Vec<String>>,
        auth_url: Mutex<String>,
    }

    impl RedirectingBrowser {
        fn new(query: &'static str) -> Self {
            Self {
                query,
                page: Mutex::new(String::new()),
                pages: Mutex::new(Vec::new()),
                auth_url: Mutex::new(String::new()),
            }
        }
    }

    impl BrowserOpener for RedirectingBrowser {
        fn open(&self, url: &str) -> io::Result<()> {
            *self.auth_url.lock().unwrap() = url.to_owned();
            let query = query_of(url);
            let redirect = url::Url::parse(&query["redirect_uri"]).unwrap();
            for redirect_query in self.query.split('|') {
                let target = format!(
                    "/callback?{}",
                    redirect_query.replace("{state}", &query["state"])
                );
                let (host, port) = (redirect.host_str().unwrap(), redirect.port().unwrap());
                let mut stream = TcpStream::connect((host, port))?;
                write!(stream, "GET {target} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")?;
                let mut page = String::new();
                stream.read_to_string(&mut page)?;
                self.pages.lock().unwrap().push(page.clone());
                *self.page.lock().unwrap() = page;
            }
            Ok(())
        }
    }

    struct BrokenBrowser;

    impl BrowserOpener for BrokenBrowser {
        fn open(&self, _url: &str) -> io::Result<()> {
            Err(io::Error::other("no browser found"))
        }
    }

    fn no_paste() -> Box<dyn BufRead + Send> {
        Box::new(io::empty())
    }

    #[test]
    fn browser_redirect_then_code_exchange() {
        let http = FakeHttp::default().reply(200, TOKEN_JSON);
        let client = Client::public("cli");
        let login = WebLogin::new("https://as.test/auth", "http://as.test/token", &client);
        let browser = RedirectingBrowser::new("code=the-code&state={state}");
        let mut events = Vec::new();
        let token = login_with_browser(&http, &login, Some(&browser), no_paste(), &mut |e| {
            events.push(format!("{e:?}"))
        })
        .unwrap();
        assert_eq!(token.access_token.expose_secret(), "at-1");
        assert!(events[0].starts_with("BrowserOpened"));
        let page = browser.page.lock().unwrap().clone();
        assert!(page.starts_with("HTTP/1.1 200 OK"), "{page}");
        assert!(page.contains("return to the terminal"));

        let auth = query_of(&browser.auth_url.lock().unwrap());
        assert_eq!(
            http.field(0, "grant_type").as_deref(),
            Some("authorization_code")
        );
        assert_eq!(http.field(0, "code").as_deref(), Some("the-code"));
        assert_eq!(
            http.field(0, "redirect_uri").as_deref(),
            Some(auth["redirect_uri"].as_str())
        );
        assert!(auth["redirect_uri"].starts_with("http://127.0.0.1:"));
        let verifier = http.field(0, "code_verifier").unwrap();
        let (_, challenge) = PkceVerifier::from_secret(verifier);
        assert_eq!(challenge.as_str(), auth["code_challenge"]);
    }

    #[test]
    fn error_redirect_shows_error_page_and_fails() {
        let http = FakeHttp::default();
        let client = Client::public("cli");
        let login = WebLogin::new("https://as.test/auth", "http://as.test/token", &client);
        let browser = RedirectingBrowser::new(
            "error=access_denied&error_description=%3Cb%3Enope%3C%2Fb%3E&state={state}",
        );
        let err =
            login_with_browser(&http, &login, Some(&browser), no_paste(), &mut |_| {}).unwrap_err();
        assert_eq!(err.oauth_code(), Some(&OAuthErrorCode::AccessDenied));
        let page = browser.page.lock().unwrap().clone();
        assert!(page.starts_with("HTTP/1.1 400"), "{page}");
        assert!(page.contains("Return to the terminal"));
        assert!(page.contains("&lt;b&gt;nope") && !page.contains("<b>nope"));
        assert_eq!(http.count(), 0);
    }

    /// A redirect with another state (or none) is not this login's: it gets
    /// a page and exchanges nothing, and the login waits on for its own, so
    /// that no local process can end it by knocking at the port.
    #[test]
    fn forged_states_are_turned_away_and_the_login_waits_for_its_own() {
        let http = FakeHttp::default().reply(200, TOKEN_JSON);
        let client = Client::public("cli");
        let login = WebLogin::new("https://as.test/auth", "http://as.test/token", &client);
        let browser = RedirectingBrowser::new(
            "code=evil&state=forged|error=access_denied|code=c&state={state}",
        );
        login_with_browser(&http, &login, Some(&browser), no_paste(), &mut |_| {}).unwrap();
        assert_eq!(http.count(), 1);
        assert_eq!(http.field(0, "code").as_deref(), Some("c"));
        let pages = browser.pages.lock().unwrap();
        assert!(pages[0].starts_with("HTTP/1.1 400") && pages[0].contains("Not this login"));
        assert!(pages[1].contains("Not this login"), "{}", pages[1]);
        assert!(pages[2].starts_with("HTTP/1.1 200"), "{}", pages[2]);
    }

    /// Plays a hostile local process, then the browser: every slot of the
    /// listener (and more) is taken by connections that send nothing, then
    /// the real redirect comes.
    struct CrowdedBrowser {
        idle: Mutex<Vec<TcpStream>>,
        page: Mutex<String>,
    }

    impl BrowserOpener for CrowdedBrowser {
        fn open(&self, url: &str) -> io::Result<()> {
            let query = query_of(url);
            let redirect = url::Url::parse(&query["redirect_uri"]).unwrap();
            let addr = ("127.0.0.1", redirect.port().unwrap());
            let mut idle = self.idle.lock().unwrap();
            for _ in 0..MAX_WAITING + 4 {
                idle.push(TcpStream::connect(addr)?);
            }
            let mut stream = TcpStream::connect(addr)?;
            let state = &query["state"];
            write!(
                stream,
                "GET /callback?code=c&state={state} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
            )?;
            let mut page = String::new();
            // A refused connection is reset or closed without a page.
            let _ = stream.read_to_string(&mut page);
            *self.page.lock().unwrap() = page;
            Ok(())
        }
    }

    #[test]
    fn idle_connections_filling_the_listener_do_not_turn_the_redirect_away() {
        let http = FakeHttp::default().reply(200, TOKEN_JSON);
        let client = Client::public("cli");
        let mut login = WebLogin::new("https://as.test/auth", "http://as.test/token", &client);
        // Bounds the wait where the redirect was refused (the old listener).
        login.timeout = Duration::from_secs(5);
        let browser = CrowdedBrowser {
            idle: Mutex::new(Vec::new()),
            page: Mutex::new(String::new()),
        };
        login_with_browser(&http, &login, Some(&browser), no_paste(), &mut |_| {}).unwrap();
        let page = browser.page.lock().unwrap().clone();
        assert!(page.starts_with("HTTP/1.1 200 OK"), "{page:?}");
        assert_eq!(http.field(0, "code").as_deref(), Some("c"));
        // The oldest idle connection was the one cut off: closed, no page.
        let mut oldest = browser.idle.lock().unwrap().remove(0);
        oldest
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let mut rest = Vec::new();
        assert_eq!(oldest.read_to_end(&mut rest).unwrap(), 0);
    }

    #[test]
    fn failed_browser_prints_url_and_accepts_a_pasted_code() {
        let http = FakeHttp::default().reply(200, TOKEN_JSON);
        let client = Client::public("cli");
        let login = WebLogin::new("https://as.test/auth", "http://as.test/token", &client);
        let mut shown = None;
        login_with_browser(
            &http,
            &login,
            Some(&BrokenBrowser),
            Box::new(io::Cursor::new("\npasted-code\n")),
            &mut |e| {
                if let WebLoginEvent::OpenManually { url, open_error } = e {
                    shown = Some((url.to_owned(), open_error));
                }
            },
        )
        .unwrap();
        let (url, open_error) = shown.unwrap();
        assert!(url.starts_with("https://as.test/auth?"));
        assert_eq!(open_error.as_deref(), Some("no browser found"));
        assert_eq!(http.field(0, "code").as_deref(), Some("pasted-code"));
    }

    /// Stdin is not always a person typing: a line that is not UTF-8 or has
    /// no end is refused with a message, not read forever or left to the
    /// timeout.
    #[test]
    fn a_paste_that_is_not_text_or_too_long_is_refused() {
        let client = Client::public("cli");
        let mut login = WebLogin::new("https://as.test/auth", "http://as.test/token", &client);
        // Bounds the wait where the paste was ignored (the old reader).
        login.timeout = Duration::from_secs(5);
        let long: Box<dyn BufRead + Send> =
            Box::new(io::BufReader::new(io::repeat(b'a').take(1 << 20)));
        let pastes: [(Box<dyn BufRead + Send>, &str); 2] = [
            (
                Box::new(io::Cursor::new(b"\xff\xfe\npasted-code\n".to_vec())),
                "not UTF-8",
            ),
            (long, "longer than 64 KiB"),
        ];
        for (paste, said) in pastes {
            let http = FakeHttp::default().reply(200, TOKEN_JSON);
            let err = login_with_browser(&http, &login, None, paste, &mut |_| {}).unwrap_err();
            assert!(
                matches!(&err, OAuthError::InvalidInput(m) if m.contains(said)),
                "{err:?}"
            );
            assert_eq!(http.count(), 0);
        }
    }

    #[test]
    fn times_out_with_a_clear_error() {
        let http = FakeHttp::default();
        let client = Client::public("cli");
        let mut login = WebLogin::new("https://as.test/auth", "http://as.test/token", &client);
        login.timeout = Duration::from_millis(50);
        let err = login_with_browser(&http, &login, None, no_paste(), &mut |_| {}).unwrap_err();
        assert!(matches!(err, OAuthError::TimedOut { .. }), "{err:?}");
        assert!(err.to_string().contains("browser login"));
    }

    /// The browser carries the user's sign-in: an authorization endpoint
    /// the metadata names over plain http off this machine is shown for the
    /// user to open by choice, never opened.
    #[test]
    fn a_plain_http_authorization_endpoint_elsewhere_is_shown_not_opened() {
        let http = FakeHttp::default();
        let client = Client::public("cli");
        let mut login = WebLogin::new("http://as.test/auth", "http://as.test/token", &client);
        login.timeout = Duration::from_millis(50);
        let browser = RedirectingBrowser::new("code=c&state={state}");
        let mut shown = false;
        let err = login_with_browser(&http, &login, Some(&browser), no_paste(), &mut |e| {
            shown |= matches!(e, WebLoginEvent::OpenManually { .. });
        })
        .unwrap_err();
        assert!(shown && browser.auth_url.lock().unwrap().is_empty());
        assert!(matches!(err, OAuthError::TimedOut { .. }), "{err:?}");
        assert_eq!(http.count(), 0);
    }
}
