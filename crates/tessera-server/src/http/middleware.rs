//! The layers in front of handlers: authentication of platform requests, the two
//! rate-limit layers with their `X-RateLimit-*` headers, and request metrics.
//!
//! - [`platform`] authenticates every `/v1` platform request, requires
//!   `THIRD_PARTY_OPERATION` (else 403, code 200100) and stores the [`Principal`]
//!   in the request extensions, where handlers and [`by_app`] read it.
//! - [`by_app`] counts the request against the principal's app.
//! - [`by_ip`] wraps the routers of the unauthenticated endpoints and counts
//!   requests to them ([`crate::ratelimit::UNAUTHENTICATED_PATHS`]) per client IP,
//!   matched by path, so it covers those routes whichever module serves them.
//!
//! Every response of a counted request carries the headers; a refused one is the
//! 429 of [`Error::RateLimited`].

use super::error::{Style, respond, write_rate_limit_headers};
use super::extract::{client_ip, presented};
use crate::error::{Error, Result};
use crate::principal::{self, Principal};
use crate::ratelimit::{Bucket, Decision, RateLimits, Subject};
use crate::services::AppState;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::Response;
use std::time::Instant;
use tessera_proto::THIRD_PARTY_OPERATION;

/// Authenticate, require `THIRD_PARTY_OPERATION`, put the [`Principal`] into the
/// request extensions.
pub async fn platform(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Result<Response> {
    let principal =
        principal::authenticate(&state, presented(request.headers())?, state.now()).await?;
    principal.require_scope(THIRD_PARTY_OPERATION)?;
    request.extensions_mut().insert(principal);
    Ok(next.run(request).await)
}

/// The limits of a layer that the router installs only when limits are on.
fn limits(state: &AppState) -> Result<&RateLimits> {
    (state.rate_limits.as_ref()).ok_or_else(|| Error::internal("rate limits are off"))
}

/// Per-app limit for authenticated platform requests.
pub async fn by_app(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Result<Response> {
    let limits = limits(&state)?;
    let Some(principal) = request.extensions().get::<Principal>() else {
        return Err(Error::internal(
            "the per-app rate limit sits behind the authentication middleware",
        ));
    };
    let subject = match &principal.client_id {
        Some(client_id) => Subject::App(client_id.clone()),
        None => Subject::Account(principal.account_id.clone()),
    };
    let now = state.now();
    let bucket = limits
        .bucket_for(&state.store, &subject, request.uri().path(), now)
        .await?;
    counted(
        limits.limiter.take(&bucket, now).await?,
        "app",
        request,
        next,
    )
    .await
}

/// Per-client-IP limit for the unauthenticated endpoints; other paths pass.
pub async fn by_ip(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Result<Response> {
    let limits = limits(&state)?;
    let Some((rule, limit)) = limits.policy.ip_rule(request.uri().path()) else {
        return Ok(next.run(request).await);
    };
    let ip = client_ip(&request, limits.policy.trust_forwarded_for);
    let bucket = Bucket {
        key: format!(
            "ip:{}|{rule}",
            ip.map_or_else(|| "unknown".to_owned(), |ip| ip.to_string())
        ),
        limit,
    };
    let now = state.now();
    counted(
        limits.limiter.take(&bucket, now).await?,
        "ip",
        request,
        next,
    )
    .await
}

/// Runs an admitted request and puts its headers on the response; a refused one
/// is counted in the metrics and becomes the 429.
async fn counted(
    decision: Decision,
    scope: &'static str,
    request: Request,
    next: Next,
) -> Result<Response> {
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
    let mut response = next.run(request).await;
    write_rate_limit_headers(
        decision.limit,
        decision.remaining,
        decision.reset,
        response.headers_mut(),
    );
    Ok(response)
}

/// Bounds a request before any handler reads it: a declared body over
/// [`super::MAX_BODY_BYTES`] is refused at once, instead of after waiting for
/// bytes that will be refused anyway; and the handling, the reading of the body
/// included, gets the request timeout: a stuck dependency or a client that
/// trickles its body gets [`Error::TimedOut`] instead of holding a connection
/// and a worker. Errors come in the routes' own `style`. (The serve loop bounds
/// headers and idle time.)
pub async fn bounded(
    State((limit, style)): State<(std::time::Duration, Style)>,
    request: Request,
    next: Next,
) -> Response {
    let declared = (request.headers().get(header::CONTENT_LENGTH))
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    let refused = if declared.is_some_and(|n| n > super::MAX_BODY_BYTES as u64) {
        super::extract::too_large()
    } else {
        match tokio::time::timeout(limit, next.run(request)).await {
            Ok(response) => return response,
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

/// Counts and times every request by matched route and status, and logs it at
/// debug level (method, route, status, latency; never headers or query).
pub async fn track(request: Request, next: Next) -> Response {
    let start = Instant::now();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".to_owned());
    let method = request.method().clone();
    let response = next.run(request).await;
    let elapsed = start.elapsed();
    let status = response.status().as_u16().to_string();
    tracing::debug!(%method, %route, %status, latency_ms = elapsed.as_secs_f64() * 1000.0, "request");
    metrics::counter!(crate::metrics::HTTP_REQUESTS, "route" => route.clone(), "status" => status.clone())
        .increment(1);
    metrics::histogram!(crate::metrics::HTTP_DURATION, "route" => route, "status" => status)
        .record(elapsed);
    response
}

/// The layers through the real router, with a fixed clock.
#[cfg(test)]
mod tests {
    use crate::access_tokens::{self, NewAccessToken};
    use crate::apps::NewApp;
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
        let token = access_tokens::issue(
            &fx.state.keyring,
            ISSUER,
            Duration::from_secs(3600),
            NewAccessToken {
                account_id: account,
                client_id: Some(app.app.client_id.clone()),
                scope: Scopes::parse(THIRD_PARTY_OPERATION),
                acr: None,
            },
            fx.clock_now(),
        )
        .unwrap();
        (
            format!("Bearer {}", token.token.expose_secret()),
            app.app.client_id,
        )
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

        // A second token of the same app shares the app's window.
        let account = fx.account("c@example.com").await;
        let second = access_tokens::issue(
            &fx.state.keyring,
            ISSUER,
            Duration::from_secs(3600),
            NewAccessToken {
                account_id: account,
                client_id: Some(client_id.clone()),
                scope: Scopes::parse(THIRD_PARTY_OPERATION),
                acr: None,
            },
            fx.clock_now(),
        )
        .unwrap();
        let second = format!("Bearer {}", second.token.expose_secret());
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

        let token = fx
            .send(Request::post("/oauth/token").body(Body::empty()).unwrap())
            .await;
        assert_eq!(header(&token, "x-ratelimit-limit"), 300);
        // Other public paths are not limited and carry no headers.
        let health = fx
            .send(Request::get("/healthz").body(Body::empty()).unwrap())
            .await;
        assert!(!health.headers().contains_key("x-ratelimit-limit"));
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
                true,
            );
        })
        .await;
        let auth = api_key(&fx, "a@example.com").await;
        let response = fx.get("/v1/projects", &auth).await;
        assert_eq!(header(&response, "x-ratelimit-limit"), 1);
        assert_eq!(
            fx.get("/v1/projects", &auth).await.status(),
            StatusCode::TOO_MANY_REQUESTS
        );
        // The endpoint's window is its own: the app's general one is untouched.
        let me = fx.get("/v1/me", &auth).await;
        assert_eq!(header(&me, "x-ratelimit-remaining"), 99);

        let from = |ip: &str| {
            Request::post("/oauth/token")
                .header("x-forwarded-for", format!("198.51.100.7, {ip}"))
                .body(Body::empty())
                .unwrap()
        };
        let a = fx.send(from("203.0.113.1")).await;
        let a2 = fx.send(from("203.0.113.1")).await;
        let b = fx.send(from("203.0.113.2")).await;
        assert_eq!(header(&a, "x-ratelimit-remaining"), 299);
        assert_eq!(header(&a2, "x-ratelimit-remaining"), 298);
        assert_eq!(header(&b, "x-ratelimit-remaining"), 299);
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
