//! The two rate-limit layers and the `X-RateLimit-*` headers.
//!
//! - [`by_app`] sits behind [`crate::auth::platform`]: it reads the request's
//!   [`Principal`] and counts the request against its app.
//! - [`by_ip`] wraps the whole router and counts requests to the unauthenticated
//!   endpoints ([`super::UNAUTHENTICATED_PATHS`]) per client IP, matched by path, so
//!   it covers those routes whichever module serves them.
//!
//! Every response of a counted request carries the headers; a refused one is the
//! 429 of [`Error::RateLimited`].

use super::Decision;
use crate::auth::Principal;
use crate::error::{Error, Result};
use crate::state::AppState;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;
use std::net::{IpAddr, SocketAddr};
use tessera_proto::ratelimit::{LIMIT, REMAINING, RESET};

/// Sets `X-RateLimit-Limit`, `-Remaining` and `-Reset` (UTC epoch seconds).
pub fn write_headers(decision: &Decision, headers: &mut HeaderMap) {
    headers.insert(LIMIT, HeaderValue::from(decision.limit));
    headers.insert(REMAINING, HeaderValue::from(decision.remaining));
    headers.insert(RESET, HeaderValue::from(decision.reset));
}

fn admit(decision: Decision, scope: &'static str) -> Result<Decision> {
    if decision.allowed {
        return Ok(decision);
    }
    metrics::counter!(crate::metrics::RATE_LIMIT_REJECTIONS, "scope" => scope).increment(1);
    tracing::debug!(
        scope,
        limit = decision.limit,
        reset = decision.reset,
        "rate limited"
    );
    Err(decision.into())
}

/// Per-app limit for authenticated platform requests.
pub async fn by_app(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Result<Response> {
    let Some(limits) = state.rate_limits.as_ref() else {
        return Ok(next.run(request).await);
    };
    let Some(principal) = request.extensions().get::<Principal>() else {
        return Err(Error::internal(
            "the per-app rate limit sits behind the authentication middleware",
        ));
    };
    let now = state.now();
    let bucket = limits
        .bucket_for(&state.store, principal, request.uri().path(), now)
        .await?;
    let decision = admit(limits.limiter.take(&bucket, now).await?, "app")?;
    let mut response = next.run(request).await;
    write_headers(&decision, response.headers_mut());
    Ok(response)
}

/// Per-client-IP limit for the unauthenticated endpoints; other paths pass.
pub async fn by_ip(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Result<Response> {
    let Some(limits) = state.rate_limits.as_ref() else {
        return Ok(next.run(request).await);
    };
    let Some((rule, limit)) = limits.policy.ip_rule(request.uri().path()) else {
        return Ok(next.run(request).await);
    };
    let ip = client_ip(&request, limits.policy.trust_forwarded_for);
    let bucket = super::Bucket {
        key: format!(
            "ip:{}|{rule}",
            ip.map_or_else(|| "unknown".to_owned(), |ip| ip.to_string())
        ),
        limit,
    };
    let now = state.now();
    let decision = admit(limits.limiter.take(&bucket, now).await?, "ip")?;
    let mut response = next.run(request).await;
    write_headers(&decision, response.headers_mut());
    Ok(response)
}

/// The TCP peer, or with `trust_forwarded_for` the last `X-Forwarded-For` entry
/// (the one our own load balancer appended; earlier ones are the client's say-so).
fn client_ip(request: &Request, trust_forwarded_for: bool) -> Option<IpAddr> {
    if trust_forwarded_for
        && let Some(ip) = request
            .headers()
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .filter_map(|s| s.trim().parse::<IpAddr>().ok())
            .next_back()
    {
        return Some(ip);
    }
    request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| addr.ip())
}

/// The layers through the real router, with a fixed clock.
#[cfg(test)]
mod tests {
    use crate::access_token::{self, NewAccessToken};
    use crate::admin::app::{CreateArgs, Grant};
    use crate::apikey::{self, NewApiKey};
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
        let key = apikey::issue(
            &fx.state.store,
            &fx.state.keyring,
            ISSUER,
            "",
            NewApiKey {
                account_id: account,
                name: None,
                scope: None,
                expires_at: None,
            },
            fx.clock_now(),
        )
        .await
        .unwrap();
        format!("token {}", key.key.expose_secret())
    }

    async fn app_token(fx: &Fixture, mode: AppMode, rate_limit: Option<u32>) -> (String, String) {
        let account = fx
            .account(&format!("{}@example.com", crate::ids::app()))
            .await;
        let app = crate::admin::app::create(
            &fx.state.store,
            &account,
            CreateArgs {
                account: String::new(),
                name: "App".into(),
                mode,
                redirect_uris: vec![],
                public: false,
                client_id: None,
                grants: Grant::defaults(false),
                rate_limit,
            },
            fx.clock_now(),
        )
        .await
        .unwrap();
        let token = access_token::issue(
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
        let second = access_token::issue(
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
        fx.clock.advance(super::super::APP_LIMIT_CACHE_SECS);
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
