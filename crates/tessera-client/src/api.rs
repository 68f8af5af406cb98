//! The platform API (`/v1/…`) over blocking HTTP: no async runtime is started.

use crate::dpop::DpopKey;
use crate::error::Error;
use crate::oauth::Clock;
use crate::response::ApiResponse;
use crate::retry::{RateLimitWait, RetryPolicy};
use crate::session::OAuthSession;
use crate::transport::{Transport, request_error, same_origin_url, unreadable_answer};
use std::time::Duration;
use tessera_proto::api::{Me, ProjectList};
use tessera_proto::{AccessToken, ApiKey, dpop};

/// How a request proves who it acts for (Lofty overview: `token <api_key>` for
/// API keys, `Bearer <access_token>` for OAuth tokens; RFC 9449: `DPoP
/// <access_token>` and a proof for a token bound to a key).
#[derive(Clone, Debug)]
pub enum Authorization {
    ApiKey(ApiKey),
    Bearer(AccessToken),
    /// A token bound to `key`: every request carries a proof signed by it.
    Dpop {
        token: AccessToken,
        key: DpopKey,
    },
}

impl Authorization {
    /// The `Authorization` header value; it carries the secret.
    pub fn header_value(&self) -> String {
        match self {
            Authorization::ApiKey(key) => format!("token {}", key.expose_secret()),
            Authorization::Bearer(token) => format!("Bearer {}", token.expose_secret()),
            Authorization::Dpop { token, .. } => {
                format!("{} {}", dpop::TOKEN_TYPE, token.expose_secret())
            }
        }
    }

    /// The credential alone, as `auth token` prints it. For a DPoP-bound
    /// token that is not enough to use it ([`Self::is_dpop_bound`]).
    pub fn secret(&self) -> &str {
        match self {
            Authorization::ApiKey(key) => key.expose_secret(),
            Authorization::Bearer(token) | Authorization::Dpop { token, .. } => {
                token.expose_secret()
            }
        }
    }

    /// Whether the server refuses the credential without a proof from this
    /// machine's key: what helpers that pass on a bare string must warn about.
    pub fn is_dpop_bound(&self) -> bool {
        matches!(self, Authorization::Dpop { .. })
    }

    /// The `DPoP` header for `method url`, for a DPoP-bound token.
    fn proof(&self, method: &str, url: &str) -> Option<String> {
        match self {
            Authorization::Dpop { token, key } => {
                Some(key.proof(method, url, Some(token.expose_secret()), crate::dpop::now()))
            }
            Authorization::ApiKey(_) | Authorization::Bearer(_) => None,
        }
    }
}

/// How requests present a login's access token: with proofs of the login's
/// key when the token is bound to it, else as a Bearer token.
impl From<&OAuthSession> for Authorization {
    fn from(session: &OAuthSession) -> Self {
        match &session.dpop_key {
            Some(key) => Authorization::Dpop {
                token: session.access_token.clone(),
                key: key.clone(),
            },
            None => Authorization::Bearer(session.access_token.clone()),
        }
    }
}

/// Responses larger than this are cut off (`tessera api` is for API calls,
/// not downloads).
const MAX_RESPONSE_BYTES: u64 = 16 * 1024 * 1024;

/// A client for one server. Built only by commands that talk to the server, never
/// on the paths that just read the store.
///
/// Every request carries a credential, so every request is checked first:
/// it must stay on the server's origin ([`same_origin_url`]) and use https
/// unless the server is on loopback or the user opted in
/// ([`Transport::check_url`]). A refused request sends nothing.
pub struct ApiClient {
    agent: crate::transport::Agent,
    base: String,
    transport: Transport,
    /// Headers the caller adds to every request (`api -H`); each replaces
    /// the client's own of that name (`Accept`, `Content-Type`,
    /// `Authorization`, `DPoP`).
    headers: Vec<(String, String)>,
}

impl ApiClient {
    /// A client trusting the OS's certificate roots, with no insecure http.
    pub fn new(base_url: &str) -> Self {
        Self::with_transport(base_url, &Transport::default())
    }

    pub fn with_transport(base_url: &str, transport: &Transport) -> Self {
        Self {
            agent: transport.agent(Duration::from_secs(30)),
            base: base_url.trim_end_matches('/').to_owned(),
            transport: transport.clone(),
            headers: Vec::new(),
        }
    }

    /// Adds `headers` to every request, each replacing the client's own
    /// header of that name. The caller checks them (names are tokens,
    /// values visible ASCII, nothing that frames the request: `Host`,
    /// `Content-Length`, hop-by-hop headers); one that is still unsendable
    /// fails the request with [`Error::Unsendable`], nothing sent.
    pub fn with_headers(mut self, headers: Vec<(String, String)>) -> Self {
        self.headers = headers;
        self
    }

    fn given(&self, name: &str) -> bool {
        self.headers
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case(name))
    }

    /// `GET /v1/me` with `Authorization: token <key>`: who the key acts for.
    pub fn me_with_api_key(&self, key: &ApiKey) -> Result<Me, Error> {
        self.me(&Authorization::ApiKey(key.clone()))
    }

    /// `GET /v1/me`: who the credential acts for.
    pub fn me(&self, auth: &Authorization) -> Result<Me, Error> {
        self.get_json("/v1/me", auth)
    }

    /// [`me`](Self::me), waiting out 429s as
    /// [`send_with_retry`](Self::send_with_retry) does.
    pub fn me_with_retry(
        &self,
        auth: &Authorization,
        policy: &RetryPolicy,
        clock: &dyn Clock,
        unix_now: i64,
        on_wait: &mut dyn FnMut(&RateLimitWait),
    ) -> Result<Me, Error> {
        let url = self.url("/v1/me")?;
        let response = self.send_with_retry(
            "GET", "/v1/me", None, auth, policy, clock, unix_now, on_wait,
        )?;
        read_json(&url, response)
    }

    /// `GET /v1/projects`: the projects of the credential's account.
    pub fn projects(&self, auth: &Authorization) -> Result<ProjectList, Error> {
        self.get_json("/v1/projects", auth)
    }

    fn get_json<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        auth: &Authorization,
    ) -> Result<T, Error> {
        let url = self.url(path)?;
        read_json(&url, self.send("GET", path, None, auth)?)
    }

    /// The full URL of `path` (`/v1/me`, `v1/me`, or an absolute URL on this
    /// server), once it is known that the credential may go there.
    pub fn url(&self, path: &str) -> Result<String, Error> {
        let url = same_origin_url(&self.base, path)?;
        self.transport.check_url(url.as_str())?;
        Ok(url.into())
    }

    /// One request; any HTTP status is a response, only no answer at all is an
    /// error. A body is sent as JSON. A DPoP-bound token goes with a proof for
    /// this method and URL; when the server asks for a nonce (RFC 9449 §9) the
    /// request is made once more with it. With no `auth`, the request
    /// carries only the caller's own headers ([`Self::with_headers`]): the
    /// `Authorization` a user gave.
    pub fn send<'a>(
        &self,
        method: &str,
        path: &str,
        body: Option<&[u8]>,
        auth: impl Into<Option<&'a Authorization>>,
    ) -> Result<ApiResponse, Error> {
        let auth = auth.into();
        let url = self.url(path)?;
        let method = method.to_ascii_uppercase();
        let response = self.send_once(&method, &url, body, auth)?;
        let Some(Authorization::Dpop { key, .. }) = auth else {
            return Ok(response);
        };
        let Some(nonce) = response.header(dpop::NONCE_HEADER) else {
            return Ok(response);
        };
        key.remember_nonce(&url, nonce);
        if !response.asks_for_dpop_nonce() {
            return Ok(response);
        }
        let response = self.send_once(&method, &url, body, auth)?;
        if let Some(nonce) = response.header(dpop::NONCE_HEADER) {
            key.remember_nonce(&url, nonce);
        }
        Ok(response)
    }

    fn send_once(
        &self,
        method: &str,
        url: &str,
        body: Option<&[u8]>,
        auth: Option<&Authorization>,
    ) -> Result<ApiResponse, Error> {
        let unsendable = |message: String| Error::Unsendable {
            url: url.to_owned(),
            message,
        };
        // ureq sends only the methods HTTP/1.1 defines; another would fail
        // as if the network had (`FOO not valid for HTTP version`).
        const SENDABLE: [&str; 9] = [
            "GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "TRACE", "CONNECT",
        ];
        let http_method = ureq::http::Method::from_bytes(method.as_bytes())
            .ok()
            .filter(|m| SENDABLE.contains(&m.as_str()))
            .ok_or_else(|| {
                unsendable(format!(
                    "{method:?} is not an HTTP method this client sends (GET, POST, PUT, PATCH, DELETE, HEAD, OPTIONS)"
                ))
            })?;
        let mut request = ureq::http::Request::builder().method(http_method).uri(url);
        // A user's own `Authorization` replaces the credential's, proof and all.
        if let Some(auth) = auth.filter(|_| !self.given("authorization")) {
            // `from_str` takes bytes from 0x80 up (obs-text), which ureq then
            // refuses at send time as a protocol error, reported as if the
            // network had failed: only visible ASCII (`to_str`) goes out.
            let authorization = ureq::http::HeaderValue::from_str(&auth.header_value())
                .ok()
                .filter(|value| value.to_str().is_ok())
                .ok_or_else(|| {
                    unsendable(
                        "the credential holds a line break or another character an HTTP header cannot carry; check the key (a pasted newline?)"
                            .into(),
                    )
                })?;
            request = request.header("Authorization", authorization);
            if let Some(proof) = auth
                .proof(method, url)
                .filter(|_| !self.given(dpop::HEADER))
            {
                request = request.header(dpop::HEADER, proof);
            }
        }
        if !self.given("accept") {
            request = request.header("Accept", "application/json");
        }
        for (name, value) in &self.headers {
            // Checked as the credential is: ureq would fail on it later as
            // if the network had.
            if !value
                .bytes()
                .all(|b| b == b'\t' || (b' '..=b'~').contains(&b))
            {
                return Err(unsendable(format!(
                    "the value of header {name} holds a character an HTTP header cannot carry"
                )));
            }
            request = request.header(name.as_str(), value.as_str());
        }
        if body.is_some() && !self.given("content-type") {
            request = request.header("Content-Type", "application/json");
        }
        let result = match body {
            Some(body) => self.agent.run(
                request
                    .body(body.to_vec())
                    .map_err(|e| unsendable(e.to_string()))?,
            ),
            None => self
                .agent
                .run(request.body(()).map_err(|e| unsendable(e.to_string()))?),
        };
        let mut response =
            result.map_err(|source| request_error(url, source, self.agent.deadline()))?;
        let status = response.status().as_u16();
        tracing::debug!(%url, status, "response");
        let headers = crate::response::header_pairs(response.headers());
        let body = response
            .body_mut()
            .with_config()
            .limit(MAX_RESPONSE_BYTES)
            .read_to_vec()
            .map_err(|source| match unreadable_answer(&source) {
                Some(message) => Error::InvalidResponse {
                    url: url.to_owned(),
                    message,
                },
                None => Error::Network {
                    url: url.to_owned(),
                    source,
                },
            })?;
        Ok(ApiResponse {
            status,
            headers,
            body,
        })
    }

    /// [`send`](Self::send), waiting and retrying while the server answers 429
    /// (per `Retry-After`, else `X-RateLimit-Reset`, else backoff; jittered),
    /// at most `policy.max_attempts` times. `unix_now` is the wall clock at
    /// the call; later wall times are derived from `clock`, so tests never
    /// sleep. `on_wait` hears about each wait before it starts.
    #[allow(clippy::too_many_arguments)]
    pub fn send_with_retry<'a>(
        &self,
        method: &str,
        path: &str,
        body: Option<&[u8]>,
        auth: impl Into<Option<&'a Authorization>>,
        policy: &RetryPolicy,
        clock: &dyn Clock,
        unix_now: i64,
        on_wait: &mut dyn FnMut(&RateLimitWait),
    ) -> Result<ApiResponse, Error> {
        let auth = auth.into();
        let start = clock.now();
        let mut attempt = 1;
        loop {
            let response = self.send(method, path, body, auth)?;
            if response.status != 429 || attempt >= policy.max_attempts {
                return Ok(response);
            }
            let elapsed = clock.now().saturating_duration_since(start).as_secs();
            let now = unix_now.saturating_add(i64::try_from(elapsed).unwrap_or(i64::MAX));
            let wait = policy.wait(&response, now, attempt, rand::random::<f64>());
            on_wait(&wait);
            clock.sleep(wait.delay);
            attempt += 1;
        }
    }
}

/// What an error body says, read leniently and field by field: `message`
/// and `code` (the Lofty API's), whatever else the body holds (a `code` that
/// is no number does not lose the message).
#[derive(Debug, Default)]
pub struct ErrorSaid {
    pub message: Option<String>,
    pub code: Option<u32>,
}

impl ErrorSaid {
    pub fn of(body: &[u8]) -> Self {
        let body: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
        Self {
            message: body["message"].as_str().map(str::to_owned),
            code: body["code"].as_u64().and_then(|c| u32::try_from(c).ok()),
        }
    }
}

/// A 2xx body as `T`, else the error its status and body say.
fn read_json<T: serde::de::DeserializeOwned>(url: &str, response: ApiResponse) -> Result<T, Error> {
    let status = response.status;
    if (200..300).contains(&status) {
        // The parser's words alone ("key must be a string at line 1 column
        // 2") do not say what was wrong: a sign-in page of a proxy or a
        // captive portal, or another service at that URL, answers 200 too.
        return serde_json::from_slice(&response.body).map_err(|e| {
            let kind = response
                .header("content-type")
                .map(|t| format!(", {}", t.split(';').next().unwrap_or(t).trim()))
                .unwrap_or_default();
            Error::InvalidResponse {
                url: url.to_owned(),
                message: format!(
                    "HTTP {status}{kind}, not the JSON the API answers ({e}); is this the API's URL, and is no proxy or sign-in page in the way?"
                ),
            }
        });
    }
    let retry_after = response
        .header("retry-after")
        .and_then(|v| v.trim().parse().ok());
    let said = ErrorSaid::of(&response.body);
    let message = match said.message.clone() {
        Some(message) => message,
        // Never followed (the agent follows none): the credential goes only
        // to the server's own URL. Where it points is what the user needs
        // to correct the configured URL (`http://` moved to `https://`).
        None if (300..400).contains(&status) => format!(
            "a redirect to {}, not followed",
            response.header("location").unwrap_or("nowhere")
        ),
        None => "no message in its answer".to_owned(),
    };
    Err(match status {
        401 => Error::Unauthorized { message },
        403 => Error::Forbidden {
            code: said.code,
            message,
        },
        429 => Error::RateLimited { retry_after },
        _ => Error::Server {
            url: url.to_owned(),
            status,
            message,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use tessera_testkit::{HttpStub, StubResponse};

    /// Status, extra headers, body.
    type Answer = (u16, &'static [(&'static str, &'static str)], &'static str);

    /// A stub answering each request with the next of `answers` (status, extra
    /// headers, body); past the last, the stub has nothing to say.
    fn stub(answers: Vec<Answer>) -> HttpStub {
        let answers = std::sync::Mutex::new(std::collections::VecDeque::from(answers));
        HttpStub::builder()
            .fallback(move |_, _| {
                let (status, headers, body) = answers
                    .lock()
                    .unwrap()
                    .pop_front()
                    .expect("more requests than answers");
                (headers.iter()).fold(
                    StubResponse::text(status, body),
                    |response, (name, value)| response.header(name, value),
                )
            })
            .start()
    }

    #[test]
    fn me_sends_the_token_header_and_parses_the_body() {
        let body = r#"{"account_id":"a1","email":"a@example.test","credential":"api_key","credential_id":"k1","scope":"THIRD_PARTY_OPERATION"}"#;
        let server = stub(vec![(200, &[], body)]);
        let me = ApiClient::new(&server.url)
            .me_with_api_key(&ApiKey::new("the-key"))
            .unwrap();
        assert_eq!(me.email, "a@example.test");
        let seen = server.only_request();
        assert_eq!(
            (seen.method.as_str(), seen.path.as_str()),
            ("GET", "/v1/me")
        );
        assert_eq!(seen.header("authorization"), Some("token the-key"));
    }

    #[test]
    fn projects_sends_the_bearer_header_and_parses_the_list() {
        let body = r#"{"projects":[{"id":"prj_1","name":"Demo"}]}"#;
        let server = stub(vec![(200, &[], body)]);
        let token = tessera_proto::AccessToken::new("at-1");
        let list = ApiClient::new(&server.url)
            .projects(&Authorization::Bearer(token))
            .unwrap();
        assert_eq!(list.projects[0].name, "Demo");
        let seen = server.only_request();
        assert_eq!(
            (seen.method.as_str(), seen.path.as_str()),
            ("GET", "/v1/projects")
        );
        assert_eq!(seen.header("authorization"), Some("Bearer at-1"));
    }

    /// A server that answers with more than this client reads was reached:
    /// a bad answer (exit 6), not "is the server running?" (exit 5).
    #[test]
    fn an_oversized_answer_is_invalid_not_unreachable() {
        let huge = "x".repeat(MAX_RESPONSE_BYTES as usize + 1);
        let server = HttpStub::answering(StubResponse::text(200, &huge));
        let err = ApiClient::new(&server.url)
            .me_with_api_key(&ApiKey::new("k"))
            .unwrap_err();
        assert!(
            matches!(err, Error::InvalidResponse { ref message, .. } if message.contains("16384 KiB")),
            "{err:?}"
        );
    }

    /// Something that is not an HTTP server (a wrong port) was reached: a
    /// bad answer (exit 6), not "is the server running?" (exit 5).
    #[test]
    fn an_answer_that_is_not_http_is_invalid_not_unreachable() {
        let url = tessera_testkit::not_http_url();
        let err = ApiClient::new(&url)
            .me_with_api_key(&ApiKey::new("k"))
            .unwrap_err();
        assert!(
            matches!(err, Error::InvalidResponse { ref message, .. } if message.contains("not HTTP")),
            "{err:?}"
        );
    }

    /// `https://` to a port serving plain HTTP answered with HTTP, not TLS:
    /// a bad answer at the wrong scheme (exit 6), not "is the server
    /// running?" (exit 5).
    #[test]
    fn https_to_a_plain_http_port_is_invalid_not_unreachable() {
        use std::io::{Read as _, Write as _};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        std::thread::spawn(move || {
            let (mut conn, _) = listener.accept().unwrap();
            let _ = conn.read(&mut [0; 4096]);
            let _ = conn.write_all(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n");
        });
        let err = ApiClient::new(&format!("https://127.0.0.1:{port}"))
            .me_with_api_key(&ApiKey::new("k"))
            .unwrap_err();
        assert!(
            matches!(err, Error::InvalidResponse { ref message, .. } if message.contains("not TLS")),
            "{err:?}"
        );
    }

    /// A server that accepts the connection and never answers is up but
    /// silent: said as such with how long it was waited for (exit 6), not
    /// "cannot reach … timeout: global" with "is the server running?".
    #[test]
    fn a_server_that_accepts_and_never_answers_is_said_as_such() {
        use std::io::Read as _;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        std::thread::spawn(move || {
            let (mut conn, _) = listener.accept().unwrap();
            // Reads the request and whatever follows, answering nothing,
            // until the client gives up and closes.
            while conn.read(&mut [0; 4096]).is_ok_and(|n| n > 0) {}
        });
        let base = format!("http://127.0.0.1:{port}");
        let transport = Transport::default();
        let client = ApiClient {
            agent: transport.agent(Duration::from_millis(300)),
            base: base.clone(),
            transport,
            headers: Vec::new(),
        };
        let err = client.me_with_api_key(&ApiKey::new("k")).unwrap_err();
        assert!(matches!(err, Error::NoAnswer { .. }), "{err:?}");
        assert_eq!(
            err.to_string(),
            format!(
                "the server at {base}/v1/me accepted the connection but did not answer within 0.3 s"
            )
        );
    }

    /// An answer cut short of its `Content-Length` came from a server that
    /// was reached: a bad answer (exit 6), not "cannot reach …: Peer
    /// disconnected" with "is the server running?" (exit 5).
    #[test]
    fn an_answer_shorter_than_announced_is_invalid_not_unreachable() {
        use std::io::{Read as _, Write as _};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        std::thread::spawn(move || {
            let (mut conn, _) = listener.accept().unwrap();
            let _ = conn.read(&mut [0; 4096]);
            let _ = conn.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 500\r\n\r\n{\"a\":1}");
        });
        let err = ApiClient::new(&format!("http://127.0.0.1:{port}"))
            .me_with_api_key(&ApiKey::new("k"))
            .unwrap_err();
        assert!(
            matches!(err, Error::InvalidResponse { ref message, .. } if message.contains("before the end of its answer")),
            "{err:?}"
        );
    }

    #[test]
    fn status_codes_map_to_errors() {
        let me = |base: &str| {
            ApiClient::new(base)
                .me_with_api_key(&ApiKey::new("k"))
                .unwrap_err()
        };
        let server = stub(vec![(
            401,
            &[],
            r#"{"error":"invalid_token","message":"revoked."}"#,
        )]);
        let err = me(&server.url);
        assert!(
            matches!(err, Error::Unauthorized { ref message } if message == "revoked."),
            "{err:?}"
        );

        let server = stub(vec![(
            403,
            &[],
            r#"{"error":"insufficient_scope","message":"no.","code":200100}"#,
        )]);
        let err = me(&server.url);
        assert!(
            matches!(
                err,
                Error::Forbidden {
                    code: Some(200100),
                    ..
                }
            ),
            "{err:?}"
        );

        let server = stub(vec![(503, &[], "")]);
        assert!(matches!(me(&server.url), Error::Server { status: 503, .. }));

        let server = stub(vec![(429, &[("retry-after", "7")], "")]);
        assert!(matches!(
            me(&server.url),
            Error::RateLimited {
                retry_after: Some(7)
            }
        ));

        let server = stub(vec![(
            200,
            &[("content-type", "text/html; charset=utf-8")],
            "<html>Sign in to the Wi-Fi</html>",
        )]);
        let url = format!("{}/v1/me", server.url);
        assert_eq!(
            me(&server.url).to_string(),
            format!(
                "unexpected response from {url}: HTTP 200, text/html, not the JSON the API answers (expected value at line 1 column 1); is this the API's URL, and is no proxy or sign-in page in the way?"
            )
        );

        // Said as `api` says them, not "HTTP 302 at …: HTTP 302".
        let server = stub(vec![(
            302,
            &[("location", "https://elsewhere.test/v1/me")],
            "",
        )]);
        let url = format!("{}/v1/me", server.url);
        assert_eq!(
            me(&server.url).to_string(),
            format!(
                "the server answered HTTP 302 at {url}: a redirect to https://elsewhere.test/v1/me, not followed"
            )
        );
        let server = stub(vec![(502, &[], "<html>Bad Gateway</html>")]);
        let url = format!("{}/v1/me", server.url);
        assert_eq!(
            me(&server.url).to_string(),
            format!("the server answered HTTP 502 at {url}: no message in its answer")
        );
    }

    /// Virtual time: sleeping advances it and is recorded.
    #[derive(Default)]
    struct FakeClock {
        slept: std::cell::RefCell<Vec<Duration>>,
    }

    impl crate::oauth::Clock for FakeClock {
        fn now(&self) -> std::time::Instant {
            static START: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
            *START.get_or_init(std::time::Instant::now)
                + self.slept.borrow().iter().sum::<Duration>()
        }

        fn sleep(&self, duration: Duration) {
            self.slept.borrow_mut().push(duration);
        }
    }

    #[test]
    fn rate_limits_are_waited_out_per_retry_after_within_bounds() {
        let auth = Authorization::ApiKey(ApiKey::new("k"));
        let server = stub(vec![
            (429, &[("retry-after", "7")], "{}"),
            (429, &[("x-ratelimit-reset", "1700000030")], "{}"),
            (200, &[], "{}"),
        ]);
        let clock = FakeClock::default();
        let mut waits = Vec::new();
        let response = ApiClient::new(&server.url)
            .send_with_retry(
                "GET",
                "/v1/me",
                None,
                &auth,
                &RetryPolicy::default(),
                &clock,
                1_700_000_000,
                &mut |w| waits.push(*w),
            )
            .unwrap();
        assert_eq!(response.status, 200);
        assert_eq!(server.requests().len(), 3);
        let slept = clock.slept.borrow().clone();
        assert_eq!(slept.len(), 2);
        // 7 s plus at most a quarter and 250 ms of jitter.
        assert!(slept[0] >= Duration::from_secs(7) && slept[0] <= Duration::from_millis(9_000));
        // The reset is 30 s after the start, of which the first wait passed.
        let left = Duration::from_secs(30) - Duration::from_secs(slept[0].as_secs());
        assert!(slept[1] >= left && slept[1] <= left.mul_f64(1.25) + Duration::from_millis(250));
        assert_eq!(waits.iter().map(|w| w.attempt).collect::<Vec<_>>(), [1, 2]);

        // Bounded: after max_attempts the 429 itself is the answer.
        let server = stub(vec![
            (429, &[("retry-after", "1")], "{}"),
            (429, &[("retry-after", "1")], "{}"),
        ]);
        let policy = RetryPolicy {
            max_attempts: 2,
            ..RetryPolicy::default()
        };
        let response = ApiClient::new(&server.url)
            .send_with_retry(
                "GET",
                "/x",
                None,
                &auth,
                &policy,
                &FakeClock::default(),
                0,
                &mut |_| {},
            )
            .unwrap();
        assert_eq!(response.status, 429);
        assert_eq!(server.requests().len(), 2);
    }

    #[test]
    fn a_dpop_token_goes_with_a_proof_and_the_nonce_the_server_asks_for() {
        let server = stub(vec![
            (
                401,
                &[
                    (
                        "www-authenticate",
                        "DPoP realm=\"t\", error=\"use_dpop_nonce\"",
                    ),
                    ("dpop-nonce", "n-1"),
                ],
                "{}",
            ),
            (200, &[], "{}"),
        ]);
        let listener_base = &server.url;
        let key = DpopKey::generate(dpop::ALG_ES256);
        let auth = Authorization::Dpop {
            token: AccessToken::new("at-1"),
            key: key.clone(),
        };
        let response = ApiClient::new(listener_base)
            .send("get", "/v1/me?x=1", None, &auth)
            .unwrap();
        assert_eq!(response.status, 200);
        assert!(auth.is_dpop_bound());
        assert_eq!(auth.header_value(), "DPoP at-1");
        // The nonce is kept for the key's next proofs to that server.
        let proof = key.proof("GET", &format!("{listener_base}/v1/me"), None, 0);
        let payload = proof.split('.').nth(1).unwrap();
        let claims: dpop::ProofClaims = serde_json::from_slice(
            &base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, payload)
                .unwrap(),
        )
        .unwrap();
        assert_eq!(claims.nonce.as_deref(), Some("n-1"));
    }

    #[test]
    fn the_proof_names_the_request() {
        let server = stub(vec![(200, &[], "{}")]);
        let base = &server.url;
        let key = DpopKey::generate(dpop::ALG_EDDSA);
        let auth = Authorization::Dpop {
            token: AccessToken::new("at-2"),
            key,
        };
        ApiClient::new(base)
            .send("DELETE", "/v1/api-keys/k1?force=1", None, &auth)
            .unwrap();
        let seen = server.only_request();
        assert_eq!(
            (
                seen.method.as_str(),
                seen.path.as_str(),
                seen.query.as_str()
            ),
            ("DELETE", "/v1/api-keys/k1", "force=1")
        );
        let proof = seen.header("dpop").expect("a DPoP header");
        let payload = proof.split('.').nth(1).unwrap();
        let claims: dpop::ProofClaims = serde_json::from_slice(
            &base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, payload)
                .unwrap(),
        )
        .unwrap();
        assert_eq!(claims.htm, "DELETE");
        assert_eq!(claims.htu, format!("{base}/v1/api-keys/k1"));
        assert_eq!(
            claims.ath.as_deref(),
            Some(dpop::access_token_hash("at-2").as_str())
        );
    }

    #[test]
    fn authorization_headers_by_credential_kind() {
        assert_eq!(
            Authorization::ApiKey(ApiKey::new("k1")).header_value(),
            "token k1"
        );
        assert_eq!(
            Authorization::Bearer(AccessToken::new("t1")).header_value(),
            "Bearer t1"
        );
        assert!(
            !format!("{:?}", Authorization::Bearer(AccessToken::new("t1-secret")))
                .contains("t1-secret")
        );
    }

    /// Nothing is sent for a credential a header cannot carry: a line
    /// break, or a character beyond ASCII (`’` of a word processor), which
    /// ureq would otherwise refuse later as if the network had failed.
    #[test]
    fn a_credential_no_header_can_carry_is_unsendable() {
        let server = stub(vec![]);
        for key in ["abc\ndef", "eyJabc\u{2019}def", "caf\u{e9}"] {
            let err = ApiClient::new(&server.url)
                .me_with_api_key(&ApiKey::new(key))
                .unwrap_err();
            assert!(matches!(err, Error::Unsendable { .. }), "{key:?}: {err:?}");
            assert!(err.to_string().contains("an HTTP header cannot carry"));
        }
        assert!(server.requests().is_empty(), "nothing was sent");
    }

    /// The raw head of the one request a client sends (a stub's map of
    /// headers would hide a header sent twice).
    fn raw_request(send: impl FnOnce(&str)) -> String {
        use std::io::{Read as _, Write as _};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let seen = std::thread::spawn(move || {
            let (mut conn, _) = listener.accept().unwrap();
            let mut head = Vec::new();
            let mut byte = [0; 1];
            while !head.ends_with(b"\r\n\r\n") && conn.read(&mut byte).unwrap() == 1 {
                head.push(byte[0]);
            }
            conn.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\n{}")
                .unwrap();
            String::from_utf8(head).unwrap().to_ascii_lowercase()
        });
        send(&base);
        seen.join().unwrap()
    }

    /// `api -H`: the user's headers go out, each replacing the client's own
    /// of that name rather than adding a second one; a user's
    /// `Authorization` goes instead of the credential, without its proof.
    #[test]
    fn given_headers_replace_the_clients_own() {
        let headers = |pairs: &[(&str, &str)]| {
            pairs
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect::<Vec<_>>()
        };
        let head = raw_request(|base| {
            let key = DpopKey::generate(dpop::ALG_ES256);
            let auth = Authorization::Dpop {
                token: AccessToken::new("profile-token"),
                key,
            };
            ApiClient::new(base)
                .with_headers(headers(&[
                    ("X-Trace", "t-1"),
                    ("accept", "application/vnd.test+json"),
                    ("Authorization", "token given-key"),
                ]))
                .send("POST", "/v1/x", Some(b"{}"), &auth)
                .unwrap();
        });
        assert!(head.contains("\r\nx-trace: t-1\r\n"), "{head}");
        assert_eq!(head.matches("\r\naccept:").count(), 1, "{head}");
        assert!(head.contains("\r\naccept: application/vnd.test+json\r\n"));
        assert_eq!(head.matches("\r\nauthorization:").count(), 1, "{head}");
        assert!(head.contains("\r\nauthorization: token given-key\r\n"));
        assert!(
            !head.contains("profile-token") && !head.contains("\r\ndpop:"),
            "{head}"
        );
        assert!(head.contains("\r\ncontent-type: application/json\r\n"));

        // No credential at all: only the user's headers.
        let head = raw_request(|base| {
            ApiClient::new(base)
                .with_headers(headers(&[("Authorization", "Bearer mine")]))
                .send("GET", "/v1/me", None, None)
                .unwrap();
        });
        assert!(
            head.contains("\r\nauthorization: bearer mine\r\n"),
            "{head}"
        );
        assert!(head.contains("\r\naccept: application/json\r\n"), "{head}");

        // A value no header can carry: nothing is sent.
        let server = stub(vec![]);
        let err = ApiClient::new(&server.url)
            .with_headers(headers(&[("X-A", "caf\u{e9}")]))
            .send("GET", "/v1/me", None, None)
            .unwrap_err();
        assert!(matches!(err, Error::Unsendable { .. }), "{err:?}");
        assert!(server.requests().is_empty());
    }

    #[test]
    fn connection_refused_is_a_network_error() {
        let closed = tessera_testkit::closed_port_url();
        let err = ApiClient::new(&closed)
            .me_with_api_key(&ApiKey::new("k"))
            .unwrap_err();
        assert!(matches!(err, Error::Network { .. }), "{err:?}");
    }
}
