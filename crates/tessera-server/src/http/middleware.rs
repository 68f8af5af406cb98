//! The layers in front of handlers: authentication of platform requests, the rate
//! limits with their `X-RateLimit-*` headers (per app inside [`Platform`], per
//! client address in [`by_ip`]), and request ids, logs and metrics ([`Track`]).
//!
//! - [`Platform`] authenticates every `/v1` platform request, then checks the
//!   DPoP proof of a key-bound token (a step of its own, after the token),
//!   requires `THIRD_PARTY_OPERATION` (else 403, code 200100), stores the
//!   [`principal::Principal`] in the request extensions, where handlers read it,
//!   and (limits on) counts the request against the principal's app. One layer,
//!   not two: each layer costs every request a boxed future and a clone of the
//!   routes behind it.
//! - [`by_ip`] wraps the routers of the unauthenticated endpoints and counts
//!   requests to them ([`crate::ratelimit::UNAUTHENTICATED_PATHS`]) per client
//!   address ([`ClientIp`]), matched by path, so it covers those routes whichever
//!   module serves them. On the token, introspection, revocation and token-URL
//!   endpoints ([`crate::ratelimit::GUESS_PATHS`], one window) only guesses
//!   count (a request whose answer carries [`Guessed`]); every other request is
//!   given back once answered, and a grant counts against its app instead
//!   ([`by_app_for_grant`]): a backend behind one NAT address may make as many
//!   grants as its app may.
//!
//! Every response of a counted request carries the headers; a refused one is the
//! 429 of [`Error::RateLimited`].

use super::error::{Style, respond, write_rate_limit_headers};
use super::extract::{ClientIp, dpop_proof, presented};
use crate::dpop;
use crate::error::{Error, Result};
use crate::principal;
use crate::ratelimit::{Bucket, Decision, RateLimits, Subject};
use crate::services::AppState;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderName, HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tessera_proto::THIRD_PARTY_OPERATION;
use tessera_proto::dpop::NONCE_HEADER;
use tower::{Layer, Service};
use tracing::Instrument as _;

/// What runs around every request of a router, as a plain async function of
/// the request and the service inside; [`Around`] makes it a layer. axum's
/// `from_fn` boxes the inner service and its future once more on every
/// request, on top of the outer future; here only the outer future is boxed
/// (for the layers every request passes: [`Track`], [`Bounded`], and on
/// `/v1` [`Platform`]).
pub trait Wrapper: Clone + Send + Sync + 'static {
    fn wrap<S>(self, request: Request, inner: S) -> impl Future<Output = Response> + Send
    where
        S: Service<Request, Response = Response, Error = Infallible> + Send + 'static,
        S::Future: Send;
}

/// The layer of a [`Wrapper`].
#[derive(Clone)]
pub struct Around<W>(pub W);

impl<W: Clone, S> Layer<S> for Around<W> {
    type Service = Wrapped<W, S>;

    fn layer(&self, inner: S) -> Self::Service {
        Wrapped {
            wrapper: self.0.clone(),
            inner,
        }
    }
}

/// The service of an [`Around`] layer.
#[derive(Clone)]
pub struct Wrapped<W, S> {
    wrapper: W,
    inner: S,
}

impl<W, S> Service<Request> for Wrapped<W, S>
where
    W: Wrapper,
    S: Service<Request, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        // The service made ready goes with the request; its clone waits for
        // the next one (tower's rule for a service used from a future).
        let clone = self.inner.clone();
        let ready = std::mem::replace(&mut self.inner, clone);
        let wrapper = self.wrapper.clone();
        Box::pin(async move { Ok(wrapper.wrap(request, ready).await) })
    }
}

/// The inner service's answer; it cannot fail.
async fn call<S>(mut inner: S, request: Request) -> Response
where
    S: Service<Request, Response = Response, Error = Infallible>,
{
    inner
        .call(request)
        .await
        .unwrap_or_else(|never| match never {})
}

/// Authenticate, check the DPoP proof of a key-bound token, require
/// `THIRD_PARTY_OPERATION`, put the [`principal::Principal`] into the request
/// extensions, count the request against its app (when limits are on).
#[derive(Clone)]
pub struct Platform(pub AppState);

impl Wrapper for Platform {
    async fn wrap<S>(self, request: Request, inner: S) -> Response
    where
        S: Service<Request, Response = Response, Error = Infallible> + Send + 'static,
        S::Future: Send,
    {
        platform(self.0, request, inner)
            .await
            .unwrap_or_else(IntoResponse::into_response)
    }
}

async fn platform<S>(state: AppState, mut request: Request, inner: S) -> Result<Response>
where
    S: Service<Request, Response = Response, Error = Infallible>,
{
    let now = state.now();
    let headers = request.headers();
    let presented = presented(headers)?;
    let principal = principal::authenticate(&state, presented, now).await?;
    // The URL the client addressed (the issuer is the public origin, and path
    // prefix, of every route), made only for a DPoP proof.
    let path = request.uri().path();
    let nonce = dpop::check_resource(
        &state,
        principal.dpop_jkt.as_deref(),
        presented,
        dpop_proof(headers)?,
        request.method().as_str(),
        || state.settings.url(path),
        now,
    )
    .await?;
    // Refused after counting: the credential is the app's, and the 403
    // carries the app's `X-RateLimit-*` as every counted answer does.
    let refusal = principal.require_scope(THIRD_PARTY_OPERATION).err();
    // Only the limits need the subject: no copies of its ids when they are off.
    let subject = state
        .rate_limits
        .is_some()
        .then(|| match &principal.client_id {
            Some(client_id) => Subject::App {
                client_id: client_id.clone(),
                account_id: principal.account_id.clone(),
            },
            None => Subject::Account(principal.account_id.clone()),
        });
    request.extensions_mut().insert(principal);
    // A refused request's 429 carries the nonce too.
    let mut response = match by_app(&state, subject.as_ref(), request, inner, refusal, now).await {
        Ok(response) => response,
        Err(e) => e.into_response(),
    };
    if let Some(value) = nonce.and_then(|n| HeaderValue::from_str(&n).ok()) {
        response.headers_mut().insert(NONCE_HEADER, value);
    }
    // Every answer is one account's (its email, its keys): no cache on the
    // way keeps it for the next person behind the same proxy. Set here, not
    // by a layer of its own, which cost 7% of a request's instructions.
    let no_store = HeaderValue::from_static("no-store");
    (response.headers_mut().entry(header::CACHE_CONTROL)).or_insert(no_store);
    Ok(response)
}

/// The limits of a layer that the router installs only when limits are on.
fn limits(state: &AppState) -> Result<&RateLimits> {
    (state.rate_limits.as_ref()).ok_or_else(|| Error::internal("rate limits are off"))
}

/// Per-app limit for an authenticated platform request (none when limits are
/// off), answered by the handler or by `refusal`, with the headers. Without a
/// decision (counters unreachable, `rate_limit_unreachable = allow`) the
/// request runs unlimited and without headers: there is no count to report.
async fn by_app<S>(
    state: &AppState,
    subject: Option<&Subject>,
    request: Request,
    inner: S,
    refusal: Option<Error>,
    now: i64,
) -> Result<Response>
where
    S: Service<Request, Response = Response, Error = Infallible>,
{
    let (Some(limits), Some(subject)) = (&state.rate_limits, subject) else {
        return Ok(answer(request, inner, refusal).await);
    };
    let buckets = limits
        .buckets_for(&state.store, subject, request.uri().path(), now)
        .await?;
    let Some(decision) = limits.decide_all(&buckets, now).await? else {
        return Ok(answer(request, inner, refusal).await);
    };
    let method = request.method().as_str();
    let spare = match buckets.last() {
        Some(general) if crate::ratelimit::is_revocation(method, request.uri().path()) => {
            Some(crate::ratelimit::revocations_bucket(general))
        }
        _ => None,
    };
    let decision = match spare {
        // Beyond a full window, a revocation still has its own.
        Some(spare) if !decision.allowed => match limits.decide(&spare, now).await? {
            Some(spared) => admit(spared, "app")?,
            None => decision,
        },
        _ => admit(decision, "app")?,
    };
    let mut response = answer(request, inner, refusal).await;
    write_headers(&decision, &mut response);
    Ok(response)
}

async fn answer<S>(request: Request, inner: S, refusal: Option<Error>) -> Response
where
    S: Service<Request, Response = Response, Error = Infallible>,
{
    match refusal {
        Some(e) => e.into_response(),
        None => call(inner, request).await,
    }
}

/// Marks an OAuth endpoint's answer as a guess that stays counted against the
/// client's address (see [`crate::oauth::token::is_guess`]).
#[derive(Clone, Copy, Debug)]
pub struct Guessed;

/// Per-client-address limit for the unauthenticated endpoints; other paths
/// pass. A refusal comes in the routes' own `style`: at the OAuth endpoints
/// with `error_description`, at `/device` as a page.
pub async fn by_ip(
    State((state, style)): State<(AppState, Style)>,
    request: Request,
    next: Next,
) -> Response {
    count_by_ip(&state, request, next)
        .await
        .unwrap_or_else(|refused| respond(style, refused))
}

async fn count_by_ip(state: &AppState, request: Request, next: Next) -> Result<Response> {
    let limits = limits(state)?;
    let path = request.uri().path();
    let Some((rule, limit)) = limits.policy.ip_rule(path) else {
        return Ok(next.run(request).await);
    };
    let guesses_only = crate::ratelimit::guesses_only(path);
    let ClientIp(ip) = ClientIp::of(request.headers(), request.extensions(), state);
    let bucket = Bucket {
        key: format!("ip:{}|{rule}", crate::forwarded::limit_key(ip)),
        limit,
    };
    let now = state.now();
    // Unreachable counters with `rate_limit_unreachable = allow`: unlimited,
    // nothing counted, so nothing to give back.
    let Some(decision) = limits.decide(&bucket, now).await? else {
        return Ok(next.run(request).await);
    };
    let decision = admit(decision, "ip")?;
    let mut response = next.run(request).await;
    if guesses_only && response.extensions().get::<Guessed>().is_none() {
        // A token answer shows the app's window, if a client was authenticated.
        if let Err(e) = limits.limiter.refund(&bucket, now).await {
            tracing::warn!(error = %e, "giving back a request's slot failed");
        }
        return Ok(response);
    }
    // A handler's own throttle (one-time codes per address) answers 429 with
    // its `Retry-After`: the headers say what it does (nothing left until
    // then), not that this window has requests left.
    let throttled = (response.status() == axum::http::StatusCode::TOO_MANY_REQUESTS)
        .then(|| response.headers().get(header::RETRY_AFTER))
        .flatten()
        .and_then(|v| v.to_str().ok()?.parse::<i64>().ok());
    let decision = match throttled {
        Some(after) => Decision {
            remaining: 0,
            reset: now.saturating_add(after),
            ..decision
        },
        None => decision,
    };
    write_headers(&decision, &mut response);
    Ok(response)
}

/// Counts an authenticated client's token request against its app (in a
/// window apart from its API calls); the decision, for the answer's headers.
/// `None` when limits are off, or when the counters cannot be reached and
/// `rate_limit_unreachable = allow` lets the request through.
pub async fn by_app_for_grant(
    state: &AppState,
    client_id: &str,
    now: i64,
) -> Result<Option<Decision>> {
    let Some(limits) = &state.rate_limits else {
        return Ok(None);
    };
    let path = crate::oauth::PATH_TOKEN;
    let bucket = limits
        .endpoint_bucket_for(&state.store, client_id, path, now)
        .await?;
    match limits.decide(&bucket, now).await? {
        Some(decision) => admit(decision, "app").map(Some),
        None => Ok(None),
    }
}

/// An admitted request's decision; a refused one is counted in the metrics and
/// becomes the 429.
fn admit(decision: Decision, scope: &'static str) -> Result<Decision> {
    if !decision.allowed {
        metrics::counter!(crate::metrics::RATE_LIMIT_REJECTIONS, "scope" => scope).increment(1);
        tracing::debug!(
            scope,
            limit = decision.limit,
            reset = decision.reset,
            "rate limited"
        );
        return Err(decision.into());
    }
    Ok(decision)
}

/// `X-RateLimit-*` of an admitted request.
pub fn write_headers(decision: &Decision, response: &mut Response) {
    write_rate_limit_headers(
        decision.limit,
        decision.remaining,
        decision.reset,
        response.headers_mut(),
    );
}

/// Bounds a request before any handler reads it: one that two readers could
/// read two ways is refused ([`ambiguity`]); a declared body over
/// [`super::MAX_BODY_BYTES`] is refused at once, instead of after waiting for
/// bytes that will be refused anyway; and the handling, the reading of the body
/// included, gets the request timeout instead of holding a connection and a
/// worker: a stuck dependency gets [`Error::TimedOut`] (503, retry), a client
/// that trickles its body [`Error::BodyTimedOut`] (408: its bytes were late).
/// Errors come in the routes' own `style`. (The serve loop bounds headers and
/// idle time.)
#[derive(Clone, Copy)]
pub struct Bounded(pub Duration, pub Style);

impl Wrapper for Bounded {
    async fn wrap<S>(self, request: Request, inner: S) -> Response
    where
        S: Service<Request, Response = Response, Error = Infallible> + Send + 'static,
        S::Future: Send,
    {
        let Self(limit, style) = self;
        let declared = (request.headers().get(header::CONTENT_LENGTH))
            .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
        let refused = if let Some(problem) = ambiguity(&request) {
            Error::BadRequest(problem.into())
        } else if declared.is_some_and(|n| n > super::MAX_BODY_BYTES as u64) {
            super::extract::too_large()
        } else {
            let has_body = declared.map_or(
                request.headers().contains_key(header::TRANSFER_ENCODING),
                |n| n > 0,
            );
            let (request, reading) = match has_body {
                true => watch_body(request),
                false => (request, BodyReading::default()),
            };
            match tokio::time::timeout(limit, call(inner, request)).await {
                Ok(response) => return response,
                // Still waiting for the client's bytes: its fault, not ours.
                Err(_) if reading.unfinished() => Error::BodyTimedOut {
                    after_secs: limit.as_secs(),
                },
                Err(_) => Error::TimedOut {
                    after_secs: limit.as_secs(),
                },
            }
        };
        // The body was not read to its end, so the connection cannot carry another
        // request: say so, and hyper closes it after this answer.
        let mut response = respond(style, refused);
        (response.headers_mut()).insert(header::CONNECTION, HeaderValue::from_static("close"));
        response
    }
}

/// What makes a request read one way here and another way to a proxy in front
/// (the start of request smuggling): two `Content-Type`s (a singleton field,
/// RFC 9110 §8.3; which one counts would be a guess), and RFC 9112 §3.2's
/// MUST-400 for an HTTP/1.1 request without a `Host`, with more than one, or
/// with one that is not a host and port. Nothing here builds a URL from
/// `Host` (the issuer is configured), but a proxy may route on it.
fn ambiguity(request: &Request) -> Option<&'static str> {
    if request
        .headers()
        .get_all(header::CONTENT_TYPE)
        .iter()
        .nth(1)
        .is_some()
    {
        return Some("the request has more than one Content-Type header: send one");
    }
    if request.version() != axum::http::Version::HTTP_11 {
        return None;
    }
    let mut hosts = request.headers().get_all(header::HOST).iter();
    match (hosts.next(), hosts.next()) {
        (None, _) => Some("an HTTP/1.1 request needs a Host header (RFC 9112 §3.2)"),
        (Some(_), Some(_)) => Some("the request has more than one Host header: send one"),
        // Empty is what a client sends for a target without an authority.
        (Some(host), None) if host.is_empty() => None,
        (Some(host), None) => {
            let valid = (host.to_str().ok())
                .filter(|h| !h.contains(['@', '/', '?', '#']))
                .is_some_and(|h| h.parse::<axum::http::uri::Authority>().is_ok());
            (!valid).then_some("the Host header is not a host name and port")
        }
    }
}

/// Whether a handler began to read a request's body and did not reach its end.
#[derive(Clone, Default)]
struct BodyReading(Arc<[AtomicBool; 2]>);

impl BodyReading {
    fn unfinished(&self) -> bool {
        self.0[0].load(Ordering::Relaxed) && !self.0[1].load(Ordering::Relaxed)
    }
}

/// `request` with a body that notes in the returned [`BodyReading`] when it is
/// first read and when its end arrives.
fn watch_body(request: Request) -> (Request, BodyReading) {
    use futures_util::StreamExt as _;
    let reading = BodyReading::default();
    let seen = reading.clone();
    let (parts, body) = request.into_parts();
    let mut data = body.into_data_stream();
    let watched = futures_util::stream::poll_fn(move |cx| {
        seen.0[0].store(true, Ordering::Relaxed);
        let next = data.poll_next_unpin(cx);
        if let std::task::Poll::Ready(None) = next {
            seen.0[1].store(true, Ordering::Relaxed);
        }
        next
    });
    let body = axum::body::Body::from_stream(watched);
    (Request::from_parts(parts, body), reading)
}

/// The response header (and, from a trusted proxy, request header) carrying a
/// request's id.
pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Gives every request an id, runs it inside a `request` span that carries the id
/// (so every log line of the request names it), returns the id in `X-Request-Id`
/// on every response (errors and 404s too), counts and times the request by
/// matched route and status, and logs it at debug level (method, route, status,
/// latency; never headers or query).
///
/// The id is the incoming `X-Request-Id` when `trust_request_id` is set and the
/// value is a plausible id ([`valid_request_id`]), else a new UUIDv7.
#[derive(Clone)]
pub struct Track(pub AppState);

impl Wrapper for Track {
    async fn wrap<S>(self, request: Request, inner: S) -> Response
    where
        S: Service<Request, Response = Response, Error = Infallible> + Send + 'static,
        S::Future: Send,
    {
        let Self(state) = self;
        let start = Instant::now();
        let id = request
            .headers()
            .get(REQUEST_ID)
            .filter(|_| state.settings.trust_request_id)
            .and_then(|v| v.to_str().ok())
            .filter(|v| valid_request_id(v))
            .map(str::to_owned)
            // The id's time prefix only orders ids in logs; nothing decides on it, so
            // the system clock is fine here.
            .unwrap_or_else(|| {
                let mut text = [0; uuid::fmt::Hyphenated::LENGTH];
                (*uuid::Uuid::now_v7().hyphenated().encode_lower(&mut text)).to_owned()
            });
        let matched = request.extensions().get::<MatchedPath>().cloned();
        let method = request.method().clone();
        let span = tracing::info_span!("request", id = %id);
        let mut response = call(inner, request).instrument(span.clone()).await;
        let elapsed = start.elapsed();
        let route = matched.as_ref().map_or("unmatched", MatchedPath::as_str);
        let status = response.status().as_u16();
        span.in_scope(|| {
            tracing::debug!(%method, %route, %status, latency_ms = elapsed.as_secs_f64() * 1000.0, "request");
        });
        if let Ok(value) = HeaderValue::from_str(&id) {
            response.headers_mut().insert(REQUEST_ID, value);
        }
        state.request_series.record(route, status, elapsed);
        response
    }
}

/// A request id we pass on: 1 to 128 characters of letters, digits and `-_.:/+=@`
/// (UUIDs, hex, and the ids common proxies generate), nothing that could forge a
/// log line or a header.
pub fn valid_request_id(id: &str) -> bool {
    (1..=128).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.:/+=@".contains(&b))
}

/// The layers through the real router, with a fixed clock.
#[cfg(test)]
mod tests {
    use crate::access_tokens::{self, NewAccessToken};
    use crate::apps::NewApp;
    use crate::forwarded::{ClientAddress, DEFAULT_TRUSTED_PROXIES, TrustedProxies};
    use crate::ratelimit::{EndpointLimit, Policy};
    use crate::store::AppMode;
    use crate::testing::{Fixture, ISSUER, T0, body_json};
    use axum::body::Body;
    use axum::http::{Request, StatusCode};
    use std::time::Duration;
    use tessera_proto::{Scopes, THIRD_PARTY_OPERATION};

    fn header(response: &axum::response::Response, name: &str) -> i64 {
        response.headers()[name].to_str().unwrap().parse().unwrap()
    }

    async fn api_key(fx: &Fixture, email: &str) -> String {
        let account = fx.account(email).await;
        let key = fx.api_key(&account, None).await;
        format!("token {}", key.key.expose_secret())
    }

    async fn app_token(fx: &Fixture, mode: AppMode, rate_limit: Option<u32>) -> (String, String) {
        let account = fx
            .account(&format!("{}@example.com", crate::ids::app()))
            .await;
        let app = fx
            .app(
                &account,
                NewApp {
                    mode,
                    rate_limit,
                    ..NewApp::named("App")
                },
            )
            .await;
        (bearer(fx, account, &app.app.client_id), app.app.client_id)
    }

    /// `Bearer` + an access token of `client_id` acting for `account_id`.
    fn bearer(fx: &Fixture, account_id: String, client_id: &str) -> String {
        let token = access_tokens::issue(
            &fx.state.keyring,
            ISSUER,
            Duration::from_secs(3600),
            NewAccessToken::new(
                account_id,
                Some(client_id),
                Scopes::parse(THIRD_PARTY_OPERATION),
            ),
            fx.clock_now(),
        )
        .unwrap();
        format!("Bearer {}", token.token.expose_secret())
    }

    /// RFC 9112 §3.2: an HTTP/1.1 request names exactly one valid host, or
    /// is a 400 in the route's form; HTTP/1.0 needs none. Two `Content-Type`s
    /// are refused too, whichever comes first.
    #[tokio::test]
    async fn an_http_1_1_request_needs_exactly_one_host() {
        use axum::http::{Version, header, header::HOST};
        use tower::ServiceExt as _;
        let fx = Fixture::new().await;
        let send = |version: Version, hosts: &[&str]| {
            let mut request = Request::get("/healthz").version(version);
            for host in hosts {
                request = request.header(HOST, *host);
            }
            let router = crate::http::router(fx.state.clone());
            async move {
                router
                    .oneshot(request.body(Body::empty()).unwrap())
                    .await
                    .unwrap()
            }
        };
        for hosts in [
            &[][..],
            &["a.example", "b.example"],
            &["u@a.example"],
            &["a b"],
        ] {
            let response = send(Version::HTTP_11, hosts).await;
            assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{hosts:?}");
            let body = body_json(response).await;
            assert!(body["message"].as_str().unwrap().contains("Host"), "{body}");
        }
        for (version, hosts) in [
            (Version::HTTP_11, &["127.0.0.1:8080"][..]),
            (Version::HTTP_11, &["[::1]:8080"]),
            (Version::HTTP_11, &[""]),
            (Version::HTTP_10, &[]),
        ] {
            let response = send(version, hosts).await;
            assert_eq!(response.status(), StatusCode::OK, "{version:?} {hosts:?}");
        }
        let (form, json) = ("application/x-www-form-urlencoded", "application/json");
        for types in [[form, json], [json, form]] {
            let request = Request::post("/oauth/token")
                .header(header::CONTENT_TYPE, types[0])
                .header(header::CONTENT_TYPE, types[1])
                .body(Body::from("grant_type=client_credentials"))
                .unwrap();
            let response = fx.send(request).await;
            assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{types:?}");
            let body = body_json(response).await;
            let why = body["error_description"].as_str().unwrap();
            assert!(why.contains("more than one Content-Type"), "{body}");
        }
    }

    #[tokio::test]
    async fn api_key_gets_the_development_limit_with_exact_headers() {
        let fx = Fixture::new().await;
        let auth = api_key(&fx, "a@example.com").await;
        for i in 0..100 {
            let response = fx.get("/v1/me", &auth).await;
            assert_eq!(response.status(), StatusCode::OK);
            assert_eq!(header(&response, "x-ratelimit-limit"), 100);
            assert_eq!(header(&response, "x-ratelimit-remaining"), 99 - i);
            assert_eq!(header(&response, "x-ratelimit-reset"), T0 + 60);
        }
        fx.clock.advance(15);
        let refused = fx.get("/v1/projects", &auth).await;
        assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(header(&refused, "retry-after"), 45);
        assert_eq!(header(&refused, "x-ratelimit-limit"), 100);
        assert_eq!(header(&refused, "x-ratelimit-remaining"), 0);
        assert_eq!(header(&refused, "x-ratelimit-reset"), T0 + 60);
        let body = body_json(refused).await;
        assert_eq!(body["error"], "rate_limited");
        assert!(body["message"].as_str().unwrap().contains("100"));

        // Another account's key has its own window.
        let other = api_key(&fx, "b@example.com").await;
        assert_eq!(fx.get("/v1/me", &other).await.status(), StatusCode::OK);

        fx.clock.advance(44);
        assert_eq!(
            fx.get("/v1/me", &auth).await.status(),
            StatusCode::TOO_MANY_REQUESTS
        );
        // At Reset exactly, requests succeed again.
        fx.clock.advance(1);
        let response = fx.get("/v1/me", &auth).await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(header(&response, "x-ratelimit-remaining"), 99);
        assert_eq!(header(&response, "x-ratelimit-reset"), T0 + 120);
    }

    #[tokio::test]
    async fn oauth_tokens_count_against_their_app_and_its_mode() {
        let fx = Fixture::new().await;
        let (production, _) = app_token(&fx, AppMode::Production, None).await;
        let response = fx.get("/v1/me", &production).await;
        assert_eq!(header(&response, "x-ratelimit-limit"), 500);
        assert_eq!(header(&response, "x-ratelimit-remaining"), 499);

        let (overridden, client_id) = app_token(&fx, AppMode::Development, Some(2)).await;
        assert_eq!(fx.get("/v1/me", &overridden).await.status(), StatusCode::OK);
        let last = fx.get("/v1/me", &overridden).await;
        assert_eq!(header(&last, "x-ratelimit-limit"), 2);
        assert_eq!(header(&last, "x-ratelimit-remaining"), 0);
        assert_eq!(
            fx.get("/v1/me", &overridden).await.status(),
            StatusCode::TOO_MANY_REQUESTS
        );

        // Another account's token of the same app shares the app's window.
        let second = bearer(&fx, fx.account("c@example.com").await, &client_id);
        assert_eq!(
            fx.get("/v1/me", &second).await.status(),
            StatusCode::TOO_MANY_REQUESTS
        );

        // `admin app update` reaches the server once its cached limit expires.
        fx.state
            .store
            .update_app_limits(&client_id, None, Some(Some(5)))
            .await
            .unwrap();
        fx.clock.advance(crate::ratelimit::APP_LIMIT_CACHE_SECS);
        let response = fx.get("/v1/me", &second).await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(header(&response, "x-ratelimit-limit"), 5);
        assert_eq!(header(&response, "x-ratelimit-remaining"), 2);
    }

    /// The one-time code throttle per address answers 429 with its own
    /// `Retry-After`, and headers that agree (none left until then), not the
    /// per-IP window's (which would say requests are left).
    #[tokio::test]
    async fn a_throttled_code_request_does_not_say_requests_are_left() {
        let fx = Fixture::new().await;
        let ask = || {
            Request::post("/v1/auth/otp")
                .header("content-type", "application/json")
                .body(Body::from(r#"{"email":"someone@example.com"}"#))
                .unwrap()
        };
        for _ in 0..crate::otp::PER_ADDRESS.max {
            let response = fx.send(ask()).await;
            assert_eq!(response.status(), StatusCode::ACCEPTED);
            assert!(response.headers().contains_key("x-ratelimit-remaining"));
        }
        let throttled = fx.send(ask()).await;
        assert_eq!(throttled.status(), StatusCode::TOO_MANY_REQUESTS);
        let after = header(&throttled, "retry-after");
        assert!(after > 0);
        assert_eq!(header(&throttled, "x-ratelimit-remaining"), 0);
        assert_eq!(header(&throttled, "x-ratelimit-reset"), T0 + after);
    }

    /// A thief who fills the account's window with a stolen key cannot keep
    /// the owner from revoking it; revocations beyond the window have a small
    /// one of their own, not an unlimited path.
    #[tokio::test]
    async fn revoking_a_key_has_a_window_beyond_the_full_one() {
        let fx = Fixture::new().await;
        let account = fx.account("owner@example.com").await;
        let stolen = fx.api_key(&account, None).await;
        let thief = format!("token {}", stolen.key.expose_secret());
        for _ in 0..100 {
            fx.get("/v1/me", &thief).await;
        }
        let owner = format!(
            "token {}",
            fx.api_key(&account, None).await.key.expose_secret()
        );
        assert_eq!(
            fx.get("/v1/api-keys", &owner).await.status(),
            StatusCode::TOO_MANY_REQUESTS
        );
        let revoke = |id: &str| {
            Request::delete(format!("/v1/api-keys/{id}"))
                .header("authorization", &owner)
                .body(Body::empty())
                .unwrap()
        };
        let response = fx.send(revoke(&stolen.record.id)).await;
        assert_eq!(response.status(), StatusCode::NO_CONTENT);
        let spare = crate::ratelimit::REVOCATIONS_PER_MIN;
        assert_eq!(header(&response, "x-ratelimit-limit"), i64::from(spare));
        assert_eq!(
            fx.get("/v1/me", &thief).await.status(),
            StatusCode::UNAUTHORIZED
        );
        // The spare window is small: no unlimited path to the database.
        for _ in 1..spare {
            let again = fx.send(revoke(&stolen.record.id)).await;
            assert_eq!(again.status(), StatusCode::NO_CONTENT);
        }
        let refused = fx.send(revoke(&stolen.record.id)).await;
        assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    }

    /// A public app's tokens are anyone's (a CLI has no secret): one account
    /// cannot use up the window of the app's other users, so each has its own,
    /// at the app's limit.
    #[tokio::test]
    async fn a_public_apps_window_is_per_account() {
        let fx = Fixture::new().await;
        let owner = fx.account("platform@example.com").await;
        let cli = NewApp {
            public: true,
            rate_limit: Some(2),
            ..NewApp::named("CLI")
        };
        let client_id = fx.app(&owner, cli).await.app.client_id;
        let attacker = bearer(&fx, fx.account("mallory@example.com").await, &client_id);
        for _ in 0..2 {
            assert_eq!(fx.get("/v1/me", &attacker).await.status(), StatusCode::OK);
        }
        let refused = fx.get("/v1/me", &attacker).await;
        assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
        let user = bearer(&fx, owner, &client_id);
        let response = fx.get("/v1/me", &user).await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(header(&response, "x-ratelimit-limit"), 2);
        assert_eq!(header(&response, "x-ratelimit-remaining"), 1);
    }

    #[tokio::test]
    async fn unauthenticated_endpoints_are_limited_per_ip_by_path() {
        let fx = Fixture::new().await;
        // Whether or not the route exists yet, the path is limited.
        for i in 0..20 {
            let response = fx
                .send(
                    Request::post("/v1/auth/otp/verify")
                        .body(Body::empty())
                        .unwrap(),
                )
                .await;
            assert_ne!(response.status(), StatusCode::TOO_MANY_REQUESTS);
            assert_eq!(header(&response, "x-ratelimit-limit"), 20);
            assert_eq!(header(&response, "x-ratelimit-remaining"), 19 - i);
        }
        let refused = fx
            .send(Request::post("/v1/auth/otp").body(Body::empty()).unwrap())
            .await;
        assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(header(&refused, "retry-after"), 60);

        // On the token endpoint only guesses count, and carry the headers.
        let guess = "grant_type=client_credentials&client_id=nope&client_secret=x";
        let token = fx.send(token_request(None, guess)).await;
        assert_eq!(header(&token, "x-ratelimit-limit"), 300);
        let malformed = fx.send(token_request(None, "")).await;
        assert!(!malformed.headers().contains_key("x-ratelimit-limit"));
        // Other public paths are not limited and carry no headers.
        let health = fx
            .send(Request::get("/healthz").body(Body::empty()).unwrap())
            .await;
        assert!(!health.headers().contains_key("x-ratelimit-limit"));
    }

    /// A request from `peer` through a proxy that appended `forwarded_for`.
    fn from_peer(mut request: Request<Body>, peer: [u8; 4], forwarded_for: &str) -> Request<Body> {
        let addr = std::net::SocketAddr::from((peer, 40000));
        request
            .extensions_mut()
            .insert(axum::extract::ConnectInfo(addr));
        if !forwarded_for.is_empty() {
            let value = forwarded_for.parse().unwrap();
            request.headers_mut().insert("x-forwarded-for", value);
        }
        request
    }

    fn token_request(basic: Option<(&str, &str)>, form: &str) -> Request<Body> {
        form_request("/oauth/token", basic, form)
    }

    /// A form POSTed to `path`, with HTTP Basic client credentials if given.
    fn form_request(path: &str, basic: Option<(&str, &str)>, form: &str) -> Request<Body> {
        let mut request =
            Request::post(path).header("content-type", "application/x-www-form-urlencoded");
        if let Some((id, secret)) = basic {
            use base64::Engine as _;
            let encoded =
                base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}"));
            request = request.header("authorization", format!("Basic {encoded}"));
        }
        request.body(Body::from(form.to_owned())).unwrap()
    }

    #[tokio::test]
    async fn endpoint_limits_and_forwarded_clients() {
        let fx = Fixture::with_settings(|s| {
            s.rate_limit_policy = Policy::new(
                100,
                500,
                300,
                vec![EndpointLimit {
                    prefix: "/v1/projects".into(),
                    per_min: 1,
                }],
            );
            s.client_address =
                ClientAddress::Forwarded(TrustedProxies::parse(&DEFAULT_TRUSTED_PROXIES).unwrap());
        })
        .await;
        let auth = api_key(&fx, "a@example.com").await;
        let response = fx.get("/v1/projects", &auth).await;
        assert_eq!(header(&response, "x-ratelimit-limit"), 1);
        assert_eq!(
            fx.get("/v1/projects", &auth).await.status(),
            StatusCode::TOO_MANY_REQUESTS
        );
        // The endpoint's lower limit lowers: its admitted request counted in
        // the app's general window too, its refused one in neither.
        let me = fx.get("/v1/me", &auth).await;
        assert_eq!(header(&me, "x-ratelimit-remaining"), 98);

        // Behind the balancer (10.0.0.1) each forwarded client has its own
        // window; what a client wrote into the header itself is ignored.
        let guess = "grant_type=client_credentials&client_id=nope&client_secret=x";
        let from = |client: &str| {
            let forwarded = format!("198.51.100.7, {client}");
            from_peer(token_request(None, guess), [10, 0, 0, 1], &forwarded)
        };
        let a = fx.send(from("203.0.113.1")).await;
        let a2 = fx.send(from("203.0.113.1")).await;
        let b = fx.send(from("203.0.113.2")).await;
        assert_eq!(a.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(header(&a, "x-ratelimit-remaining"), 299);
        assert_eq!(header(&a2, "x-ratelimit-remaining"), 298);
        assert_eq!(header(&b, "x-ratelimit-remaining"), 299);
        // A client that reaches tesserad directly cannot pick its address.
        let direct =
            |forged: &str| from_peer(token_request(None, guess), [203, 0, 113, 50], forged);
        assert_eq!(
            header(&fx.send(direct("192.0.2.1")).await, "x-ratelimit-remaining"),
            299
        );
        assert_eq!(
            header(&fx.send(direct("192.0.2.2")).await, "x-ratelimit-remaining"),
            298
        );
    }

    /// Behind a proxy that appends to the client's own `X-Forwarded-For`
    /// line, bytes that are not text in the client's part do not hide the
    /// entry the proxy wrote: each client keeps its own window instead of
    /// sharing the proxy's with everyone whose header could not be read.
    #[tokio::test]
    async fn a_forwarded_line_with_bytes_that_are_not_text_still_names_the_client() {
        let fx = Fixture::with_settings(|s| {
            s.client_address =
                ClientAddress::Forwarded(TrustedProxies::parse(&DEFAULT_TRUSTED_PROXIES).unwrap());
        })
        .await;
        let guess = "grant_type=client_credentials&client_id=nope&client_secret=x";
        let from = |client: &str| {
            let mut request = from_peer(token_request(None, guess), [10, 0, 0, 1], "");
            let line = [&b"\xff\xfe, "[..], client.as_bytes()].concat();
            let value = axum::http::HeaderValue::from_bytes(&line).unwrap();
            request.headers_mut().insert("x-forwarded-for", value);
            request
        };
        let remaining =
            |response: axum::response::Response| header(&response, "x-ratelimit-remaining");
        assert_eq!(remaining(fx.send(from("203.0.113.1")).await), 299);
        assert_eq!(remaining(fx.send(from("203.0.113.2")).await), 299);
        assert_eq!(remaining(fx.send(from("203.0.113.2")).await), 298);
        let proxy = fx
            .send(from_peer(token_request(None, guess), [10, 0, 0, 1], ""))
            .await;
        assert_eq!(remaining(proxy), 299, "nothing counted as the proxy's");
    }

    /// Issue 17 §2: a backend behind one address makes as many grants as its
    /// app may; only guesses count against the address, atomically, and a
    /// well-meant request that is turned down counts against neither.
    #[tokio::test]
    async fn the_token_endpoint_counts_guesses_per_address_and_grants_per_app() {
        let fx = Fixture::with_settings(|s| {
            s.rate_limit_policy = Policy::new(100, 500, 3, Vec::new());
        })
        .await;
        let account = fx.account("backend@example.com").await;
        let created = fx
            .app(
                &account,
                NewApp {
                    rate_limit: Some(5),
                    ..NewApp::named("Backend")
                },
            )
            .await;
        let id = created.app.client_id.clone();
        let secret = created.client_secret.unwrap();
        let good = Some((id.as_str(), secret.expose_secret()));
        let grant = "grant_type=client_credentials";
        let nat = |request| from_peer(request, [198, 51, 100, 1], "");
        // More grants than the per-address limit: each counts against the app.
        for remaining in (0..5).rev() {
            let response = fx.send(nat(token_request(good, grant))).await;
            assert_eq!(response.status(), StatusCode::OK);
            assert_eq!(header(&response, "x-ratelimit-limit"), 5);
            assert_eq!(header(&response, "x-ratelimit-remaining"), remaining);
        }
        let over = fx.send(nat(token_request(good, grant))).await;
        assert_eq!(over.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(header(&over, "x-ratelimit-limit"), 5);
        // The app's API calls have a window of their own.
        let api = bearer(&fx, account.clone(), &id);
        assert_eq!(
            header(&fx.get("/v1/me", &api).await, "x-ratelimit-remaining"),
            4
        );

        // Malformed or disallowed requests guess nothing and do not count.
        for form in [
            "",
            "grant_type=password",
            "grant_type=client_credentials&grant_type=x",
        ] {
            let response = fx.send(nat(token_request(good, form))).await;
            assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{form}");
        }
        // Wrong secrets count against the address: 3, then 429 for everyone
        // there, a correct secret included, until the window moves on.
        let wrong = Some((id.as_str(), "wrong-secret"));
        for remaining in (0..3).rev() {
            let response = fx.send(nat(token_request(wrong, grant))).await;
            assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
            assert_eq!(header(&response, "x-ratelimit-limit"), 3);
            assert_eq!(header(&response, "x-ratelimit-remaining"), remaining);
        }
        fx.clock.advance(60);
        let refused = fx.send(nat(token_request(wrong, grant))).await;
        assert_eq!(refused.status(), StatusCode::UNAUTHORIZED, "a new window");
        for _ in 0..2 {
            fx.send(nat(token_request(wrong, grant))).await;
        }
        let refused = fx.send(nat(token_request(good, grant))).await;
        assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(header(&refused, "retry-after"), 60);
        // In Lofty's form, with the words where OAuth libraries look for them.
        let body = body_json(refused).await;
        assert_eq!(body["error"], "rate_limited");
        assert_eq!(body["error_description"], body["message"]);
        // Another address is not affected.
        let elsewhere = from_peer(token_request(good, grant), [192, 0, 2, 9], "");
        assert_eq!(fx.send(elsewhere).await.status(), StatusCode::OK);

        // A public client (a CLI) is every user's: no per-app limit on its
        // token requests, even with a limit of 1.
        let cli = fx
            .app(
                &account,
                NewApp {
                    public: true,
                    rate_limit: Some(1),
                    ..NewApp::named("CLI")
                },
            )
            .await;
        let cli_id = cli.app.client_id;
        let device = fx
            .post_form("/oauth/device_authorization", &[("client_id", &cli_id)])
            .await;
        let device = crate::testing::body_json(device).await;
        let poll = format!(
            "grant_type=urn:ietf:params:oauth:grant-type:device_code&client_id={cli_id}&device_code={}",
            device["device_code"].as_str().unwrap()
        );
        for _ in 0..3 {
            fx.clock.advance(5);
            let response = fx
                .send(from_peer(token_request(None, &poll), [192, 0, 2, 10], ""))
                .await;
            assert_eq!(response.status(), StatusCode::BAD_REQUEST);
            assert!(!response.headers().contains_key("x-ratelimit-limit"));
        }
    }

    /// A wrong client secret is a guess wherever it is tried: at introspection
    /// and revocation too, and so is an unknown session id at the token URL.
    /// They count as the token endpoint's guesses do, in its window per
    /// address, and answers that guess nothing are given back.
    #[tokio::test]
    async fn guesses_at_every_oauth_endpoint_share_the_token_endpoints_window() {
        let fx = Fixture::with_settings(|s| {
            s.rate_limit_policy = Policy::new(100, 500, 4, Vec::new());
        })
        .await;
        let account = fx.account("resource@example.com").await;
        let created = fx.app(&account, NewApp::named("Resource server")).await;
        let id = created.app.client_id.clone();
        let secret = created.client_secret.unwrap();
        let good = Some((id.as_str(), secret.expose_secret()));
        let wrong = Some((id.as_str(), "wrong-secret"));
        let from = |peer: [u8; 4], path: &str, basic, form: &str| {
            from_peer(form_request(path, basic, form), peer, "")
        };
        let here = [198, 51, 100, 2];
        // Introspections and revocations by the authenticated client: no guess,
        // not counted, no headers.
        for _ in 0..6 {
            for path in ["/oauth/introspect", "/oauth/revoke"] {
                let response = fx.send(from(here, path, good, "token=rt_x")).await;
                assert_eq!(response.status(), StatusCode::OK, "{path}");
                assert!(!response.headers().contains_key("x-ratelimit-limit"));
            }
        }
        let guesses = [
            (
                "/oauth/introspect",
                wrong,
                "token=rt_x",
                StatusCode::UNAUTHORIZED,
            ),
            (
                "/oauth/revoke",
                wrong,
                "token=rt_x",
                StatusCode::UNAUTHORIZED,
            ),
            (
                "/oauth/session-token",
                None,
                "session_id=nope",
                StatusCode::BAD_REQUEST,
            ),
            (
                "/oauth/token",
                wrong,
                "grant_type=client_credentials",
                StatusCode::UNAUTHORIZED,
            ),
        ];
        for ((path, basic, form, status), remaining) in guesses.into_iter().zip((0..4).rev()) {
            let response = fx.send(from(here, path, basic, form)).await;
            assert_eq!(response.status(), status, "{path}");
            assert_eq!(header(&response, "x-ratelimit-limit"), 4, "{path}");
            assert_eq!(
                header(&response, "x-ratelimit-remaining"),
                remaining,
                "{path}"
            );
        }
        for (path, form) in [
            ("/oauth/introspect", "token=rt_x"),
            ("/oauth/revoke", "token=rt_x"),
            ("/oauth/token", "grant_type=client_credentials"),
        ] {
            let refused = fx.send(from(here, path, good, form)).await;
            assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS, "{path}");
        }
        let refused = fx
            .send(from(here, "/oauth/session-token", None, "session_id=nope"))
            .await;
        assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
        let elsewhere = fx
            .send(from(
                [192, 0, 2, 11],
                "/oauth/introspect",
                good,
                "token=rt_x",
            ))
            .await;
        assert_eq!(elsewhere.status(), StatusCode::OK);
    }

    /// A token exchange names its app without authenticating it, so it is not
    /// counted in the app's window (anyone could spend it); a refused subject
    /// token is a guess that counts against the address.
    #[tokio::test]
    async fn token_exchanges_count_per_address_not_per_app() {
        let fx = Fixture::with_settings(|s| {
            s.rate_limit_policy = Policy::new(100, 500, 3, Vec::new());
        })
        .await;
        let account = fx.account("ci@example.com").await;
        let created = fx
            .app(
                &account,
                NewApp {
                    rate_limit: Some(1),
                    ..NewApp::named("Deployer")
                },
            )
            .await;
        let id = created.app.client_id.clone();
        let exchange = format!(
            "grant_type={}&client_id={id}&subject_token=not.a.jwt&subject_token_type={}",
            crate::oauth::GRANT_TOKEN_EXCHANGE,
            tessera_proto::token::exchange::JWT
        );
        let ci = |request| from_peer(request, [198, 51, 100, 7], "");
        for remaining in (0..3).rev() {
            let response = fx.send(ci(token_request(None, &exchange))).await;
            assert_eq!(response.status(), StatusCode::BAD_REQUEST);
            assert_eq!(header(&response, "x-ratelimit-limit"), 3);
            assert_eq!(header(&response, "x-ratelimit-remaining"), remaining);
            assert_eq!(body_json(response).await["error"], "invalid_request");
        }
        let over = fx.send(ci(token_request(None, &exchange))).await;
        assert_eq!(over.status(), StatusCode::TOO_MANY_REQUESTS);
        // The app's own window was never touched.
        let secret = created.client_secret.unwrap();
        let basic = Some((id.as_str(), secret.expose_secret()));
        let grant = "grant_type=client_credentials";
        let elsewhere = from_peer(token_request(basic, grant), [192, 0, 2, 50], "");
        let granted = fx.send(elsewhere).await;
        assert_eq!(granted.status(), StatusCode::OK);
        assert_eq!(header(&granted, "x-ratelimit-limit"), 1);
        assert_eq!(header(&granted, "x-ratelimit-remaining"), 0);
    }

    #[test]
    fn request_ids_passed_on_are_short_and_plain() {
        for ok in [
            "01a23230-47d4-7070-a162-cf0f7a7e59fe",
            "lb-7f3a9c-0001",
            "Root=1-5759e988:abc/def+g@h_i.j",
        ] {
            assert!(super::valid_request_id(ok), "{ok}");
        }
        let long = "a".repeat(129);
        for bad in [
            "",
            "has space",
            "quote\"",
            "back\\slash",
            "ünï",
            "tab\t",
            long.as_str(),
        ] {
            assert!(!super::valid_request_id(bad), "{bad:?}");
        }
    }

    #[tokio::test]
    async fn unreachable_counters_allow_without_headers_or_deny_with_503() {
        use crate::ratelimit::{Backend, Unreachable, redis::RedisUrl};
        // Port 1 on loopback: nothing listens, so every decision fails at once.
        let closed = RedisUrl::parse("redis://127.0.0.1:1").unwrap();
        for (unreachable, expected) in [
            (Unreachable::Allow, StatusCode::OK),
            (Unreachable::Deny, StatusCode::SERVICE_UNAVAILABLE),
        ] {
            let fx = Fixture::with_settings(|s| {
                s.rate_limit_backend = Backend::Redis;
                s.redis_url = Some(closed.clone());
                s.rate_limit_unreachable = unreachable;
            })
            .await;
            let auth = api_key(&fx, "a@example.com").await;
            for _ in 0..3 {
                let response = fx.get("/v1/me", &auth).await;
                assert_eq!(response.status(), expected, "{unreachable:?}");
                assert!(!response.headers().contains_key("x-ratelimit-limit"));
                if expected == StatusCode::SERVICE_UNAVAILABLE {
                    assert_eq!(header(&response, "retry-after"), 1);
                    let body = body_json(response).await;
                    assert_eq!(body["error"], "temporarily_unavailable");
                    assert!(!body.to_string().contains("127.0.0.1"), "{body}");
                }
            }
        }
    }

    /// A page over its address's limit is refused with a page a browser can
    /// show (and its security headers), still with `Retry-After`.
    #[tokio::test]
    async fn a_page_over_the_address_limit_is_a_page() {
        let fx = Fixture::with_settings(|s| {
            s.rate_limit_policy = Policy::new(100, 500, 2, Vec::new());
        })
        .await;
        let get = || {
            from_peer(
                Request::get("/device").body(Body::empty()).unwrap(),
                [198, 51, 100, 7],
                "",
            )
        };
        for _ in 0..2 {
            assert_ne!(fx.send(get()).await.status(), StatusCode::TOO_MANY_REQUESTS);
        }
        let refused = fx.send(get()).await;
        assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(header(&refused, "retry-after"), 60);
        assert_eq!(header(&refused, "x-ratelimit-remaining"), 0);
        assert!(
            refused.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/html"),
            "{:?}",
            refused.headers()
        );
        assert!(refused.headers().contains_key("content-security-policy"));
    }

    #[tokio::test]
    async fn switched_off_means_no_headers() {
        let fx = Fixture::with_settings(|s| s.rate_limit_enabled = false).await;
        let auth = api_key(&fx, "a@example.com").await;
        let response = fx.get("/v1/me", &auth).await;
        assert_eq!(response.status(), StatusCode::OK);
        assert!(!response.headers().contains_key("x-ratelimit-limit"));
    }
}
