//! Client authentication, the token endpoint request every grant shares, and
//! what callers compute from a token response.

use super::error::OAuthError;
use super::http::{HttpClient, HttpResponse};
use crate::dpop::DpopKey;
use base64::Engine;
use std::time::{Duration, SystemTime};
use tessera_proto::token::TokenResponse;
use tessera_proto::{ClientSecret, OAuthErrorBody, OAuthErrorCode, Scopes, dpop};
use ureq::http::{Request, header, request};

/// How the client proves who it is at the token endpoint (RFC 6749 §2.3.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientAuthMethod {
    /// HTTP Basic with the form-encoded id and secret; the RFC's default.
    ClientSecretBasic,
    /// `client_id` and `client_secret` in the form body.
    ClientSecretPost,
    /// A public client (a CLI): `client_id` in the body, no secret.
    None,
}

/// An OAuth client as the token endpoint sees it, with the DPoP key its token
/// requests prove, if any.
#[derive(Clone, Debug)]
pub struct Client {
    id: String,
    secret: Option<ClientSecret>,
    method: ClientAuthMethod,
    dpop: Option<DpopKey>,
}

impl Client {
    /// A public client: no secret (RFC 6749 §2.1), as CLIs ship.
    pub fn public(id: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            secret: None,
            method: ClientAuthMethod::None,
            dpop: None,
        }
    }

    /// A confidential client authenticating with `client_secret_basic`.
    pub fn confidential(id: impl Into<String>, secret: ClientSecret) -> Self {
        Self {
            id: id.into(),
            secret: Some(secret),
            method: ClientAuthMethod::ClientSecretBasic,
            dpop: None,
        }
    }

    /// Sends the secret in the form body (`client_secret_post`) instead.
    /// Has no effect on a public client.
    pub fn with_secret_post(mut self) -> Self {
        if self.secret.is_some() {
            self.method = ClientAuthMethod::ClientSecretPost;
        }
        self
    }

    /// Token requests carry a DPoP proof signed by `key` (RFC 9449 §5), so the
    /// tokens are bound to it where the server supports DPoP.
    pub fn with_dpop(mut self, key: DpopKey) -> Self {
        self.dpop = Some(key);
        self
    }

    pub fn dpop_key(&self) -> Option<&DpopKey> {
        self.dpop.as_ref()
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    pub fn auth_method(&self) -> ClientAuthMethod {
        self.method
    }
}

/// POSTs a form to a token-style endpoint with client authentication and
/// returns the raw response. Shared by the token, device and revocation
/// endpoints, which authenticate clients the same way. `dpop_proof` goes in
/// the `DPoP` header.
pub(crate) fn post_form(
    http: &dyn HttpClient,
    url: &str,
    client: Option<&Client>,
    params: &[(&str, &str)],
    dpop_proof: Option<String>,
) -> Result<HttpResponse, OAuthError> {
    let mut form = url::form_urlencoded::Serializer::new(String::new());
    form.extend_pairs(params);
    let mut request = Request::post(url)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header(header::ACCEPT, "application/json");
    if let Some(proof) = dpop_proof {
        request = request.header(dpop::HEADER, proof);
    }
    if let Some(client) = client {
        match (&client.secret, client.method) {
            (Some(secret), ClientAuthMethod::ClientSecretBasic) => {
                request = request.header(
                    header::AUTHORIZATION,
                    basic_authorization(&client.id, secret),
                );
            }
            (Some(secret), ClientAuthMethod::ClientSecretPost) => {
                form.append_pair("client_id", &client.id);
                form.append_pair("client_secret", secret.expose_secret());
            }
            _ => {
                form.append_pair("client_id", &client.id);
            }
        }
    }
    send(http, url, request, form.finish().into_bytes())
}

/// Sends `request` with `body` to `url`, which names it in errors: the
/// response, whatever its status, or why there is none.
pub(crate) fn send(
    http: &dyn HttpClient,
    url: &str,
    request: request::Builder,
    body: Vec<u8>,
) -> Result<HttpResponse, OAuthError> {
    let request = request.body(body).map_err(|e| OAuthError::InvalidUrl {
        url: url.to_owned(),
        reason: e.to_string(),
    })?;
    http.send(request)
        .map_err(|source| OAuthError::transport(url.to_owned(), source))
}

/// Form fields whose values are credentials. A gateway or proxy that echoes
/// the request in its error page (as `federated` guards against for the CI
/// job's token) must not make the error message show them: a failed login in
/// CI would print the client secret, the API key sent as `customer_key` or a
/// refresh token into a log many people read.
const SECRET_FIELDS: [&str; 9] = [
    "client_secret",
    "customer_key",
    "refresh_token",
    "code",
    "code_verifier",
    "device_code",
    "subject_token",
    "actor_token",
    "token",
];

/// The secrets a request sent, as an echo of it could show them (as sent,
/// form-encoded, and the client's `Authorization: Basic` value), hidden from
/// what an error quotes of the answer.
#[derive(Default)]
pub(crate) struct Sent(Vec<String>);

impl Sent {
    /// The secret fields of `params` and the client's secret.
    pub(crate) fn of(client: Option<&Client>, params: &[(&str, &str)]) -> Self {
        let fields = params
            .iter()
            .filter(|(name, _)| SECRET_FIELDS.contains(name))
            .map(|(_, value)| *value);
        let mut sent = Self::values(fields);
        if let Some(client) = client
            && let Some(secret) = &client.secret
        {
            let basic = basic_authorization(&client.id, secret);
            let credentials = basic.trim_start_matches("Basic ").to_owned();
            sent.add(secret.expose_secret());
            sent.0.push(credentials);
            sent.sort();
        }
        sent
    }

    /// These values (a one-time code sent as JSON, say).
    pub(crate) fn values<'a>(values: impl IntoIterator<Item = &'a str>) -> Self {
        let mut sent = Self::default();
        for value in values {
            sent.add(value);
        }
        sent.sort();
        sent
    }

    fn add(&mut self, value: &str) {
        let encoded: String = url::form_urlencoded::byte_serialize(value.as_bytes()).collect();
        self.0.push(value.to_owned());
        self.0.push(encoded);
    }

    /// Longest first, so that a value inside another is not hidden first
    /// and leave the rest of the longer one showing.
    fn sort(&mut self) {
        self.0.retain(|v| !v.is_empty());
        self.0.sort_by_key(|v| std::cmp::Reverse(v.len()));
        self.0.dedup();
    }

    /// `text` with every secret sent replaced by `***`.
    pub(crate) fn hide(&self, text: &str) -> String {
        self.0
            .iter()
            .fold(text.to_owned(), |text, secret| text.replace(secret, "***"))
    }
}

/// RFC 6749 §2.3.1: id and secret are form-encoded before Basic encoding, so
/// that a `:` in the id cannot shift the split.
fn basic_authorization(id: &str, secret: &ClientSecret) -> String {
    let encode = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    let pair = format!("{}:{}", encode(id), encode(secret.expose_secret()));
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(pair)
    )
}

/// A grant request at the token endpoint: success is RFC 6749 §5.1, failure
/// §5.2. With the client's DPoP key, the request carries a proof, and a
/// server that asks for a nonce (`use_dpop_nonce`, RFC 9449 §8) gets one more
/// request with it.
pub(crate) fn token_request(
    http: &dyn HttpClient,
    token_endpoint: &str,
    client: Option<&Client>,
    params: &[(&str, &str)],
) -> Result<TokenResponse, OAuthError> {
    let key = client.and_then(Client::dpop_key);
    let proof = || key.map(|k| k.proof("POST", token_endpoint, None, crate::dpop::now()));
    let mut response = post_form(http, token_endpoint, client, params, proof())?;
    if let Some(key) = key
        && remember_nonce(key, token_endpoint, &response)
        && asks_for_nonce(&response)
    {
        response = post_form(http, token_endpoint, client, params, proof())?;
        remember_nonce(key, token_endpoint, &response);
    }
    let sent = Sent::of(client, params);
    let token: TokenResponse = parse_success(token_endpoint, &response, &sent)?;
    // RFC 6749 §7.1: a client must not use a token type it does not
    // understand; a DPoP token is one only when this request proved a key.
    let understood = token.token_type.eq_ignore_ascii_case("bearer")
        || (key.is_some() && token.token_type.eq_ignore_ascii_case(dpop::TOKEN_TYPE));
    if !understood {
        return Err(OAuthError::BadResponse {
            url: token_endpoint.to_owned(),
            status: response.status().as_u16(),
            detail: format!("unsupported token_type {:?}", token.token_type),
        });
    }
    // Checked before anything stores or prints them: a token is pasted into
    // headers, printed by `auth token` and handed to git's line protocol, where
    // a line break or an escape sequence from the server would act.
    let tokens = [
        ("access_token", Some(token.access_token.expose_secret())),
        (
            "refresh_token",
            token.refresh_token.as_ref().map(|t| t.expose_secret()),
        ),
    ];
    for (field, value) in tokens {
        if let Some(value) = value
            && !is_token_text(value)
        {
            return Err(OAuthError::BadResponse {
                url: token_endpoint.to_owned(),
                status: response.status().as_u16(),
                // Never the value: it is a secret, and the very text refused.
                detail: format!(
                    "the {field} is empty or holds a character outside printable ASCII (RFC 6749 §A.12: VSCHAR)"
                ),
            });
        }
    }
    Ok(token)
}

/// RFC 6749 §A.12, §A.17: `access-token = 1*VSCHAR`, `refresh-token =
/// 1*VSCHAR`, VSCHAR being `%x20-7E`.
fn is_token_text(value: &str) -> bool {
    !value.is_empty() && value.bytes().all(|b| (0x20..=0x7e).contains(&b))
}

/// Keeps the `DPoP-Nonce` a response carries for the key's next proofs;
/// whether there was one.
fn remember_nonce(key: &DpopKey, url: &str, response: &HttpResponse) -> bool {
    let nonce = response.headers().get(dpop::NONCE_HEADER);
    match nonce.and_then(|v| v.to_str().ok()) {
        Some(nonce) => {
            key.remember_nonce(url, nonce);
            true
        }
        None => false,
    }
}

/// RFC 9449 §8: a 400 `use_dpop_nonce` from the token endpoint.
fn asks_for_nonce(response: &HttpResponse) -> bool {
    response.status() == 400
        && serde_json::from_slice::<OAuthErrorBody>(response.body())
            .is_ok_and(|b| b.error == OAuthErrorCode::UseDpopNonce)
}

/// A 2xx body parsed as `T`, or the OAuth error the server sent.
pub(crate) fn parse_success<T: serde::de::DeserializeOwned>(
    url: &str,
    response: &HttpResponse,
    sent: &Sent,
) -> Result<T, OAuthError> {
    let status = response.status().as_u16();
    if response.status().is_success() {
        // serde's message names the field, not the value, so no token leaks into it.
        return serde_json::from_slice(response.body()).map_err(|e| OAuthError::BadResponse {
            url: url.to_owned(),
            status,
            detail: format!("not a valid response body: {e}"),
        });
    }
    Err(error_from_response(url, response, sent))
}

/// Turns a non-2xx response into [`OAuthError::Rejected`] when it carries an
/// RFC 6749 error body, else [`OAuthError::BadResponse`]; neither shows what
/// the request sent in `sent`.
pub(crate) fn error_from_response(url: &str, response: &HttpResponse, sent: &Sent) -> OAuthError {
    let status = response.status().as_u16();
    let body = sent.hide(&String::from_utf8_lossy(response.body()));
    match serde_json::from_str::<OAuthErrorBody>(&body) {
        Ok(body) => OAuthError::Rejected {
            status: Some(status),
            body,
        },
        Err(_) => OAuthError::BadResponse {
            url: url.to_owned(),
            status,
            detail: body_excerpt(body.as_bytes()),
        },
    }
}

/// The start of an unexpected (error) body, for a human to recognise a proxy
/// page or a stack trace.
pub(crate) fn body_excerpt(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    if text.is_empty() {
        return "empty body".to_owned();
    }
    let excerpt: String = text.chars().take(200).collect();
    if excerpt.len() < text.len() {
        format!("{excerpt}…")
    } else {
        excerpt
    }
}

/// When the access token stops being valid: `now + expires_in`, a lifetime
/// past a century taken as a century (a hostile `expires_in` near 2^64 must
/// not overflow the clock). `None` when the server did not say (RFC 6749 §5.1
/// only recommends `expires_in`).
pub fn access_token_expiry(token: &TokenResponse, now: SystemTime) -> Option<SystemTime> {
    token
        .expires_in
        .map(|seconds| now + Duration::from_secs(seconds.min(LONGEST_EXPIRES_IN)))
}

/// The longest `expires_in` taken as said: a century. A longer one (a hostile
/// `2^64 - 1`) would put the expiry past the year 9999, which RFC 3339 cannot
/// write, and kubectl refuses an `ExecCredential` whose expiry it cannot read.
pub(crate) const LONGEST_EXPIRES_IN: u64 = 100 * 365 * 24 * 3600;

/// The scopes the token carries: the response's `scope`, or, when the server
/// left it out, the scopes requested (RFC 6749 §5.1: omitted means "as
/// requested").
pub fn granted_scopes(token: &TokenResponse, requested: Option<&str>) -> Scopes {
    Scopes::parse(token.scope.as_deref().or(requested).unwrap_or(""))
}

#[cfg(test)]
pub(crate) mod testing {
    //! An in-memory [`HttpClient`] that records requests and replays answers.

    use super::super::http::{HttpClient, HttpRequest, HttpResponse, TransportError};
    use std::cell::RefCell;
    use std::collections::VecDeque;
    use ureq::http::Response;

    #[derive(Default)]
    pub struct FakeHttp {
        pub requests: RefCell<Vec<HttpRequest>>,
        replies: RefCell<VecDeque<Result<HttpResponse, TransportError>>>,
    }

    impl FakeHttp {
        pub fn reply(self, status: u16, body: &str) -> Self {
            let response = Response::builder()
                .status(status)
                .header("content-type", "application/json")
                .body(body.as_bytes().to_vec())
                .unwrap();
            self.replies.borrow_mut().push_back(Ok(response));
            self
        }

        pub fn reply_with(self, response: HttpResponse) -> Self {
            self.replies.borrow_mut().push_back(Ok(response));
            self
        }

        pub fn fail(self, message: &str) -> Self {
            self.replies
                .borrow_mut()
                .push_back(Err(TransportError::Network(message.to_owned())));
            self
        }

        /// The form fields of the `n`th request.
        pub fn form(&self, n: usize) -> Vec<(String, String)> {
            let requests = self.requests.borrow();
            url::form_urlencoded::parse(requests[n].body())
                .into_owned()
                .collect()
        }

        pub fn field(&self, n: usize, name: &str) -> Option<String> {
            self.form(n)
                .into_iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v)
        }

        pub fn header(&self, n: usize, name: &str) -> Option<String> {
            self.requests.borrow()[n]
                .headers()
                .get(name)
                .map(|v| v.to_str().unwrap().to_owned())
        }

        pub fn url(&self, n: usize) -> String {
            self.requests.borrow()[n].uri().to_string()
        }

        pub fn count(&self) -> usize {
            self.requests.borrow().len()
        }
    }

    impl HttpClient for FakeHttp {
        fn send(&self, request: HttpRequest) -> Result<HttpResponse, TransportError> {
            self.requests.borrow_mut().push(request);
            self.replies
                .borrow_mut()
                .pop_front()
                .expect("the test scripted fewer replies than requests")
        }
    }

    pub const TOKEN_JSON: &str =
        r#"{"access_token":"at-1","token_type":"Bearer","expires_in":3600,"scope":"api:read"}"#;
}

#[cfg(test)]
mod tests {
    use super::testing::{FakeHttp, TOKEN_JSON};
    use super::*;
    use tessera_proto::OAuthErrorCode;

    const URL: &str = "http://as.test/token";

    #[test]
    fn basic_auth_form_encodes_id_and_secret() {
        let http = FakeHttp::default().reply(200, TOKEN_JSON);
        let client = Client::confidential("id:1", ClientSecret::new("s p/+"));
        token_request(&http, URL, Some(&client), &[("grant_type", "x")]).unwrap();
        let expected = base64::engine::general_purpose::STANDARD.encode("id%3A1:s+p%2F%2B");
        assert_eq!(
            http.header(0, "authorization").unwrap(),
            format!("Basic {expected}")
        );
        assert_eq!(http.field(0, "client_secret"), None);
        assert_eq!(http.field(0, "client_id"), None);
        assert_eq!(
            http.header(0, "content-type").unwrap(),
            "application/x-www-form-urlencoded"
        );
    }

    #[test]
    fn a_dpop_client_proves_its_key_and_follows_the_nonce_it_is_given() {
        let nonce_please = ureq::http::Response::builder()
            .status(400)
            .header("dpop-nonce", "n-1")
            .body(br#"{"error":"use_dpop_nonce"}"#.to_vec())
            .unwrap();
        let http = FakeHttp::default()
            .reply_with(nonce_please)
            .reply(200, r#"{"access_token":"at","token_type":"DPoP"}"#);
        let key = DpopKey::generate(dpop::ALG_EDDSA);
        let client = Client::public("cli").with_dpop(key.clone());
        let token = token_request(&http, URL, Some(&client), &[("grant_type", "x")]).unwrap();
        assert_eq!(token.token_type, "DPoP");
        assert_eq!(http.count(), 2);
        let claims = |n: usize| {
            let proof = http.header(n, "dpop").expect("a proof on every attempt");
            let payload = proof.split('.').nth(1).unwrap().to_owned();
            let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(payload)
                .unwrap();
            serde_json::from_slice::<dpop::ProofClaims>(&bytes).unwrap()
        };
        assert_eq!(
            (claims(0).htm.as_str(), claims(0).htu.as_str()),
            ("POST", URL)
        );
        assert_eq!(claims(0).nonce, None);
        assert_eq!(claims(1).nonce.as_deref(), Some("n-1"));
        assert_ne!(claims(0).jti, claims(1).jti);

        // Without a key, a DPoP token type is not one this client understands.
        let http = FakeHttp::default().reply(200, r#"{"access_token":"at","token_type":"DPoP"}"#);
        let err = token_request(&http, URL, Some(&Client::public("cli")), &[]).unwrap_err();
        assert!(matches!(err, OAuthError::BadResponse { .. }), "{err:?}");
        assert_eq!(http.header(0, "dpop"), None);
    }

    #[test]
    fn client_debug_redacts_the_secret() {
        let client = Client::confidential("app", ClientSecret::new("very-secret-value"));
        assert!(!format!("{client:?}").contains("very-secret-value"));
    }

    #[test]
    fn secret_post_and_public_clients_send_id_in_body() {
        let http = FakeHttp::default()
            .reply(200, TOKEN_JSON)
            .reply(200, TOKEN_JSON);
        let post = Client::confidential("c", ClientSecret::new("s")).with_secret_post();
        token_request(&http, URL, Some(&post), &[]).unwrap();
        assert_eq!(http.field(0, "client_secret").as_deref(), Some("s"));
        assert_eq!(http.header(0, "authorization"), None);
        token_request(&http, URL, Some(&Client::public("cli")), &[]).unwrap();
        assert_eq!(http.field(1, "client_id").as_deref(), Some("cli"));
        assert_eq!(http.field(1, "client_secret"), None);
    }

    #[test]
    fn rfc6749_error_body_is_a_rejection() {
        let http = FakeHttp::default().reply(
            401,
            r#"{"error":"invalid_client","error_description":"bad secret"}"#,
        );
        let err = token_request(&http, URL, None, &[]).unwrap_err();
        match err {
            OAuthError::Rejected { status, body } => {
                assert_eq!(status, Some(401));
                assert_eq!(body.error, OAuthErrorCode::InvalidClient);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn non_oauth_answers_are_bad_responses() {
        let http = FakeHttp::default()
            .reply(502, "<html>bad gateway</html>")
            .reply(
                200,
                r#"{"token_type":"Bearer","refresh_token":"secret-rt"}"#,
            )
            .reply(200, r#"{"access_token":"secret-at","token_type":"mac"}"#);
        for _ in 0..3 {
            let err = token_request(&http, URL, None, &[]).unwrap_err();
            assert!(matches!(err, OAuthError::BadResponse { .. }), "{err:?}");
            // A malformed success body may hold tokens: the error never quotes it.
            assert!(!format!("{err} {err:?}").contains("secret-"), "{err:?}");
        }
    }

    /// A gateway that echoes the request in its error page, or a server that
    /// repeats it in `error_description`: the error shows none of the secrets
    /// sent (the API key as `customer_key`, a refresh token, the client
    /// secret in the form or in the Basic header), as sent or form-encoded.
    #[test]
    fn an_answer_echoing_the_request_shows_none_of_its_secrets() {
        let secret = "s3cret/client+secret";
        let basic = Client::confidential("app", ClientSecret::new(secret));
        let post = Client::confidential("app", ClientSecret::new(secret)).with_secret_post();
        let params = [
            ("grant_type", "client_credentials"),
            ("customer_key", "eyJkey.eyJpayload.signature"),
            ("refresh_token", "rt_refresh-secret"),
        ];
        for client in [basic, post] {
            let echo = |body: &[u8], authorization: &str| {
                format!(
                    "Bad gateway. Request: {} Authorization: {authorization}",
                    String::from_utf8_lossy(body)
                )
            };
            let probe = FakeHttp::default().reply(502, "");
            let _ = token_request(&probe, URL, Some(&client), &params);
            let body = probe.requests.borrow()[0].body().clone();
            let authorization = probe.header(0, "authorization").unwrap_or_default();
            let page = echo(&body, &authorization);
            let described = serde_json::json!({
                "error": "invalid_grant",
                "error_description": page,
            })
            .to_string();
            let http = FakeHttp::default().reply(502, &page).reply(400, &described);
            for _ in 0..2 {
                let err = token_request(&http, URL, Some(&client), &params).unwrap_err();
                let shown = format!("{err} {err:?}");
                for leaked in [
                    "eyJkey",
                    "rt_refresh",
                    secret,
                    "s3cret%2Fclient",
                    &authorization["Basic ".len().min(authorization.len())..],
                ] {
                    assert!(
                        leaked.is_empty() || !shown.contains(leaked),
                        "{leaked} shown: {shown}"
                    );
                }
                assert!(shown.contains("***"), "{shown}");
            }
        }
    }

    /// A token is printed (`auth token`), put in git's line protocol and in
    /// headers: one with a line break, an escape or non-ASCII text is refused
    /// as a bad answer before anything keeps it, and the error never quotes it.
    #[test]
    fn tokens_outside_printable_ascii_are_bad_responses() {
        let hostile = [
            r#"{"access_token":"secret-at\nhost=evil.example","token_type":"Bearer"}"#,
            r#"{"access_token":"secret-at\u001b]52;c;eA==\u0007","token_type":"Bearer"}"#,
            r#"{"access_token":"","token_type":"Bearer"}"#,
            r#"{"access_token":"secret-\u00e9","token_type":"Bearer"}"#,
            r#"{"access_token":"at","token_type":"Bearer","refresh_token":"secret-rt\r\n"}"#,
        ];
        for body in hostile {
            let http = FakeHttp::default().reply(200, body);
            let err = token_request(&http, URL, None, &[]).unwrap_err();
            assert!(
                matches!(err, OAuthError::BadResponse { .. }),
                "{body}: {err:?}"
            );
            assert!(!format!("{err} {err:?}").contains("secret-"), "{err:?}");
        }
        let fine =
            r#"{"access_token":"a.b-c_d~e+f/g= h","token_type":"Bearer","refresh_token":"!~"}"#;
        let http = FakeHttp::default().reply(200, fine);
        token_request(&http, URL, None, &[]).unwrap();
    }

    #[test]
    fn transport_failure_is_unreachable() {
        let http = FakeHttp::default().fail("connection refused");
        let err = token_request(&http, URL, None, &[]).unwrap_err();
        assert!(err.is_unreachable());
        assert!(err.to_string().contains(URL));
    }

    #[test]
    fn expiry_and_scopes() {
        let token: TokenResponse = serde_json::from_str(TOKEN_JSON).unwrap();
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000);
        assert_eq!(
            access_token_expiry(&token, now),
            Some(SystemTime::UNIX_EPOCH + Duration::from_secs(4_600))
        );
        assert_eq!(
            granted_scopes(&token, Some("other")).to_string(),
            "api:read"
        );
        let bare: TokenResponse =
            serde_json::from_str(r#"{"access_token":"a","token_type":"bearer"}"#).unwrap();
        assert_eq!(access_token_expiry(&bare, now), None);
        assert_eq!(granted_scopes(&bare, Some("b a")).to_string(), "a b");
        // A lifetime the clock cannot hold is a century, not a panic.
        let forever: TokenResponse = serde_json::from_str(
            r#"{"access_token":"a","token_type":"bearer","expires_in":18446744073709551615}"#,
        )
        .unwrap();
        let century = Duration::from_secs(100 * 365 * 24 * 3600);
        assert_eq!(access_token_expiry(&forever, now), Some(now + century));
    }
}
