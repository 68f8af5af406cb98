//! CORS for what a browser app (an SPA, a public client doing PKCE) calls
//! across origins: discovery, the JWKS and the OAuth endpoints. Any origin,
//! never with credentials: nothing there is authorised by a cookie, so a page
//! can only send what its own script holds. The platform API and the web
//! pages get none.
//!
//! One fixed policy, so the headers are constants: nothing in an answer
//! depends on the request's `Origin` or `Access-Control-Request-*`, hence no
//! `Vary`. Hand-written rather than tower-http's `CorsLayer`, which on every
//! request cloned its configuration (the router clones a route's layers per
//! request) and built the headers into a map of their own: 2.4% of a token
//! request's instructions, 5.7% of an introspection's (bench/RESULTS.md). The bytes are
//! tower-http's, header order included (the tests pin them).

use axum::extract::Request;
use axum::http::{HeaderValue, Method, header};
use axum::response::Response;
use futures_util::FutureExt as _;
use futures_util::future::{Either, Map, Ready, ready};
use std::convert::Infallible;
use std::task::{Context, Poll};
use tower::{Layer, Service};

/// `Access-Control-Expose-Headers`: what a page's script may read of an
/// answer besides the CORS-safelisted headers (the test checks that it names
/// each header we send).
const EXPOSED: &str = "www-authenticate,retry-after,x-ratelimit-limit,x-ratelimit-remaining,\
                       x-ratelimit-reset,dpop-nonce,x-request-id";

/// A day: browsers cap it lower (Chromium at two hours); one preflight per
/// endpoint is enough.
const MAX_AGE_SECS: &str = "86400";

/// The layer; [`super::router`] puts it on the routers that answer CORS.
#[derive(Clone, Copy)]
pub struct CrossOrigin;

impl<S> Layer<S> for CrossOrigin {
    type Service = CrossOriginService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        CrossOriginService(inner)
    }
}

/// The service of [`CrossOrigin`].
#[derive(Clone)]
pub struct CrossOriginService<S>(S);

type Answered = Result<Response, Infallible>;

impl<S> Service<Request> for CrossOriginService<S>
where
    S: Service<Request, Response = Response, Error = Infallible>,
{
    type Response = Response;
    type Error = Infallible;
    // No box: a preflight is answered here, anything else is the inner
    // service's future with the headers added at its end.
    type Future = Either<Ready<Answered>, Map<S::Future, fn(Answered) -> Answered>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        // Every OPTIONS is a preflight: none of these endpoints answers
        // OPTIONS otherwise.
        if request.method() == Method::OPTIONS {
            return Either::Left(ready(Ok(preflight())));
        }
        Either::Right(self.0.call(request).map(expose as fn(Answered) -> Answered))
    }
}

fn preflight() -> Response {
    let mut response = Response::default();
    let headers = response.headers_mut();
    let allow = |value| HeaderValue::from_static(value);
    headers.insert(header::ACCESS_CONTROL_ALLOW_METHODS, allow("GET,POST"));
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_HEADERS,
        allow("authorization,content-type,dpop"),
    );
    headers.insert(header::ACCESS_CONTROL_MAX_AGE, allow(MAX_AGE_SECS));
    headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, allow("*"));
    response
}

fn expose(answered: Answered) -> Answered {
    let Ok(mut response) = answered;
    let headers = response.headers_mut();
    let exposed = HeaderValue::from_static(EXPOSED);
    headers.insert(header::ACCESS_CONTROL_EXPOSE_HEADERS, exposed);
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    Ok(response)
}

#[cfg(test)]
mod tests {
    use crate::testing::Fixture;
    use axum::body::Body;
    use axum::http::{Request, StatusCode};

    /// Every header name of a response, in order, and its value (the request
    /// id's value varies, so only its name).
    fn headers(response: &axum::response::Response) -> Vec<String> {
        (response.headers().iter())
            .map(|(name, value)| match name.as_str() {
                "x-request-id" => name.to_string(),
                _ => format!("{name}: {}", value.to_str().unwrap()),
            })
            .collect()
    }

    const ORIGIN: &str = "https://spa.example";

    #[test]
    fn the_exposed_headers_are_the_ones_we_send() {
        use tessera_proto::dpop::NONCE_HEADER;
        use tessera_proto::ratelimit::{LIMIT, REMAINING, RESET};
        let request_id = crate::http::middleware::REQUEST_ID;
        let sent = [
            "www-authenticate",
            "retry-after",
            LIMIT,
            REMAINING,
            RESET,
            NONCE_HEADER,
            request_id.as_str(),
        ];
        assert_eq!(super::EXPOSED, sent.join(",").to_ascii_lowercase());
    }

    /// A browser app may call discovery, the JWKS and the OAuth endpoints
    /// from its own origin, never with cookies; nothing else answers CORS.
    #[tokio::test]
    async fn cors_for_discovery_jwks_and_oauth_endpoints_only() {
        let fx = Fixture::new().await;
        let preflight = |path: &str| {
            Request::options(path)
                .header("origin", ORIGIN)
                .header("access-control-request-method", "POST")
                .header("access-control-request-headers", "content-type, dpop")
                .body(Body::empty())
                .unwrap()
        };
        let allowed = |response: &axum::response::Response| {
            (response.headers().get("access-control-allow-origin"))
                .map(|v| v.to_str().unwrap().to_owned())
        };
        for path in [
            "/oauth/token",
            "/oauth/revoke",
            "/oauth/device_authorization",
        ] {
            let response = fx.send(preflight(path)).await;
            assert!(response.status().is_success(), "{path}");
            assert_eq!(allowed(&response).as_deref(), Some("*"), "{path}");
            assert!(
                !response
                    .headers()
                    .contains_key("access-control-allow-credentials")
            );
            assert!(
                !response.headers().contains_key("x-ratelimit-limit"),
                "{path}"
            );
        }
        for path in [
            "/.well-known/openid-configuration",
            "/.well-known/oauth-authorization-server",
            "/.well-known/jwks.json",
        ] {
            let get = Request::get(path)
                .header("origin", ORIGIN)
                .body(Body::empty());
            let response = fx.send(get.unwrap()).await;
            assert_eq!(response.status(), StatusCode::OK, "{path}");
            assert_eq!(allowed(&response).as_deref(), Some("*"), "{path}");
        }
        let account = fx.account("a@example.com").await;
        let key = fx.api_key(&account, None).await;
        let me = Request::get("/v1/me")
            .header("origin", ORIGIN)
            .header(
                "authorization",
                format!("token {}", key.key.expose_secret()),
            )
            .body(Body::empty());
        assert_eq!(allowed(&fx.send(me.unwrap()).await), None);
        for path in ["/v1/me", "/oauth/authorize", "/signin"] {
            assert_eq!(allowed(&fx.send(preflight(path)).await), None, "{path}");
        }
    }

    /// Every address with CORS answers a browser's preflight, the JWKS too:
    /// the 405 in the route's form once replaced the CORS layer on the JWKS
    /// route, and its preflight was a 405 with no CORS headers. The headers,
    /// their order and the `Allow` the router adds are tower-http's
    /// `CorsLayer`'s, which this layer replaced.
    #[tokio::test]
    async fn a_preflight_is_answered_wherever_cors_is() {
        let fx = Fixture::new().await;
        for (path, allow) in [
            ("/.well-known/jwks.json", "GET,HEAD"),
            ("/.well-known/openid-configuration", "GET,HEAD"),
            ("/.well-known/oauth-authorization-server", "GET,HEAD"),
            ("/oauth/token", "POST"),
        ] {
            let preflight = Request::options(path)
                .header("origin", ORIGIN)
                .header("access-control-request-method", "GET")
                .header("access-control-request-headers", "dpop")
                .body(Body::empty());
            let response = fx.send(preflight.unwrap()).await;
            assert_eq!(response.status(), StatusCode::OK, "{path}");
            assert_eq!(
                headers(&response),
                [
                    "access-control-allow-methods: GET,POST",
                    "access-control-allow-headers: authorization,content-type,dpop",
                    "access-control-max-age: 86400",
                    "access-control-allow-origin: *",
                    "x-request-id",
                    &format!("allow: {allow}"),
                    "content-length: 0",
                ],
                "{path}"
            );
            // A method the address does not answer keeps the CORS headers, so
            // the page's script can read the 405.
            let put = Request::put(path)
                .header("origin", ORIGIN)
                .body(Body::empty());
            let response = fx.send(put.unwrap()).await;
            assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED, "{path}");
            let allowed = response.headers().get("access-control-allow-origin");
            assert_eq!(allowed.map(|v| v.to_str().unwrap()), Some("*"), "{path}");
        }
    }

    /// An answer (here a refused token request) keeps its own headers first;
    /// the two CORS headers follow, as tower-http's `CorsLayer` wrote them.
    #[tokio::test]
    async fn an_answer_gets_the_cors_headers_after_its_own() {
        let fx = Fixture::new().await;
        let refused = Request::post("/oauth/token")
            .header("origin", ORIGIN)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(Body::from("grant_type=nope"));
        let response = fx.send(refused.unwrap()).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        let headers = headers(&response);
        assert_eq!(
            headers[..headers.len() - 1],
            [
                "content-type: application/json",
                "cache-control: no-store",
                "access-control-expose-headers: www-authenticate,retry-after,x-ratelimit-limit,\
                 x-ratelimit-remaining,x-ratelimit-reset,dpop-nonce,x-request-id",
                "access-control-allow-origin: *",
                "x-request-id",
            ]
        );
    }
}
