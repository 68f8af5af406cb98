//! The one place an [`Error`] becomes an HTTP response.
//!
//! The route decides the form ([`Style`]), the error only says what went wrong:
//! platform endpoints (`/v1/…`) answer with [`ApiErrorBody`] (`impl IntoResponse
//! for Error`); OAuth endpoints (`/oauth/…`) in RFC 6749 §5.2 form, so that even a
//! database failure comes back as `{"error":"server_error"}`; web pages as HTML
//! pages ([`PageError`]). 5xx answers never carry internal details; those go to
//! the log. A 401 names every scheme the client may use (`Bearer`, `DPoP`), or
//! the one its token needs.

use super::json::answer;
use super::web::page;
use crate::error::{AuthError, DpopError, Error, error_description};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use std::sync::atomic::{AtomicU64, Ordering};
use tessera_proto::ratelimit::{LIMIT, REMAINING, RESET};
use tessera_proto::{ApiErrorBody, INSUFFICIENT_SCOPE_CODE, OAuthErrorBody, OAuthErrorCode, dpop};

/// How a route shows its errors.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Style {
    /// `{"error", "message", "code"}` with the status that says what happened.
    Api,
    /// `{"error", "error_description"}` (RFC 6749 §5.2), `no-store`.
    OAuth,
    /// An HTML page (or the redirect a browser should follow).
    Page,
}

const REALM: &str = "tessera";

/// The answer to `error` in `style`.
pub fn respond(style: Style, error: Error) -> Response {
    use Style::{Api, OAuth, Page};
    let text = error.to_string();
    match error {
        Error::Unauthenticated(reason) => match style {
            Api => unauthenticated(reason),
            OAuth => oauth(OAuthErrorCode::InvalidGrant, Some(reason.to_string())),
            Page => page_4xx(StatusCode::UNAUTHORIZED, text),
        },
        Error::Dpop(problem) => match style {
            Api => dpop_refused(problem),
            OAuth => {
                let code = match problem {
                    DpopError::InvalidProof(_) => OAuthErrorCode::InvalidDpopProof,
                    DpopError::UseNonce { .. } => OAuthErrorCode::UseDpopNonce,
                };
                with_nonce(oauth(code, Some(text)), &problem)
            }
            Page => page_4xx(StatusCode::BAD_REQUEST, text),
        },
        Error::InsufficientScope { required } => match style {
            Api => insufficient_scope(required),
            OAuth => oauth(
                OAuthErrorCode::InvalidScope,
                Some(format!("the scope {required} is required")),
            ),
            Page => page_4xx(StatusCode::FORBIDDEN, text),
        },
        Error::BadRequest(message) => match style {
            Api => api(StatusCode::BAD_REQUEST, "invalid_request", message),
            OAuth => oauth(OAuthErrorCode::InvalidRequest, Some(message)),
            Page => page_4xx(StatusCode::BAD_REQUEST, message),
        },
        Error::NotFound(message) => match style {
            Api => api(StatusCode::NOT_FOUND, "not_found", message),
            OAuth => oauth(OAuthErrorCode::InvalidRequest, Some(message)),
            Page => page_4xx(StatusCode::NOT_FOUND, message),
        },
        Error::MethodNotAllowed { .. } => {
            let status = StatusCode::METHOD_NOT_ALLOWED;
            match style {
                Api => api(status, "method_not_allowed", text),
                OAuth => {
                    let mut response = oauth(OAuthErrorCode::InvalidRequest, Some(text));
                    *response.status_mut() = status;
                    response
                }
                Page => page_4xx(status, text),
            }
        }
        Error::Conflict(message) => match style {
            Api => api(StatusCode::CONFLICT, "conflict", message),
            OAuth => oauth(OAuthErrorCode::InvalidRequest, Some(message)),
            Page => page_4xx(StatusCode::CONFLICT, message),
        },
        Error::UnacceptableSubjectToken(message) => match style {
            Api | OAuth => oauth(OAuthErrorCode::InvalidRequest, Some(message)),
            Page => page_4xx(StatusCode::BAD_REQUEST, message),
        },
        Error::OAuth { error, description } => match style {
            Api | OAuth => oauth(error, description),
            Page => {
                let status = oauth_status(&error);
                if status.is_server_error() {
                    page_failure(status, &text)
                } else {
                    page_4xx(status, description.unwrap_or(text))
                }
            }
        },
        Error::RateLimited { limit, reset, now } => rate_limited(style, limit, reset, now),
        Error::SlowDown { interval_secs } => match style {
            Api | OAuth => slow_down(interval_secs),
            Page => page_4xx(StatusCode::BAD_REQUEST, text),
        },
        Error::TooManyRequests {
            message,
            retry_after_secs,
        } => {
            let retry_after = [(header::RETRY_AFTER, retry_after_secs.to_string())];
            match style {
                Api | OAuth => (
                    StatusCode::TOO_MANY_REQUESTS,
                    retry_after,
                    limited_body(style, message),
                )
                    .into_response(),
                Page => (
                    retry_after,
                    page_4xx(StatusCode::TOO_MANY_REQUESTS, message),
                )
                    .into_response(),
            }
        }
        Error::InvalidOtp => match style {
            Api => api(StatusCode::UNAUTHORIZED, "invalid_otp", text),
            OAuth => oauth(OAuthErrorCode::InvalidGrant, Some(text)),
            Page => page_4xx(StatusCode::UNAUTHORIZED, text),
        },
        Error::UntrustedAuthorizationRequest { reason } => match style {
            Api => api(StatusCode::BAD_REQUEST, "invalid_request", reason),
            OAuth => oauth(OAuthErrorCode::InvalidRequest, Some(reason)),
            Page => page_4xx(
                StatusCode::BAD_REQUEST,
                format!(
                    "This sign-in link is not valid: {}. Go back to the app and start again.",
                    reason.trim_end_matches('.')
                ),
            ),
        },
        Error::RedirectToClient(redirect) => match (style, redirect.url()) {
            (Page, Some(url)) if redirect.automatic => Redirect::to(url.as_str()).into_response(),
            (Page, Some(url)) => page::error_page(
                StatusCode::BAD_REQUEST,
                "That did not work",
                format!(
                    "The app's sign-in request cannot be answered: {}. The app asked for the \
                     answer to go to {}.",
                    redirect.description,
                    url.host_str().unwrap_or(url.scheme())
                ),
                Some(page::Onward {
                    label: format!("Continue to {}", url.host_str().unwrap_or(url.scheme())),
                    href: url.into(),
                }),
            ),
            (Page, None) => page_4xx(StatusCode::BAD_REQUEST, text),
            (Api | OAuth, _) => oauth(redirect.error, Some(redirect.description)),
        },
        Error::SignInRequired { return_to } => match style {
            Page => Redirect::to(&page::signin_url(&return_to)).into_response(),
            Api | OAuth => unauthenticated(AuthError::Missing),
        },
        Error::BodyTimedOut { .. } => {
            let status = StatusCode::REQUEST_TIMEOUT;
            match style {
                Api => api(status, "request_timeout", text),
                OAuth => {
                    let mut response = oauth(OAuthErrorCode::InvalidRequest, Some(text));
                    *response.status_mut() = status;
                    response
                }
                Page => page_4xx(status, text),
            }
        }
        Error::TimedOut { .. } => match style {
            Api => (
                StatusCode::SERVICE_UNAVAILABLE,
                [(header::RETRY_AFTER, "1")],
                api_body("timeout", text),
            )
                .into_response(),
            OAuth => retry_soon(oauth(OAuthErrorCode::TemporarilyUnavailable, Some(text))),
            Page => retry_soon(page_failure(StatusCode::SERVICE_UNAVAILABLE, &text)),
        },
        Error::Unavailable(_) => {
            DATABASE_OUTAGE.refused(&text);
            unavailable(style, "its database")
        }
        // The limiter warns at the start of an outage and every few seconds:
        // a line per refused request would flood the log.
        Error::LimiterUnreachable(_) => unavailable(style, "its rate-limit counters"),
        Error::Config(_) | Error::Database(_) | Error::Migration(_) | Error::Internal(_) => {
            match style {
                Api => {
                    tracing::error!(error = %text, "internal error");
                    api(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        "server_error",
                        "internal server error".into(),
                    )
                }
                OAuth => {
                    tracing::error!(error = %text, "internal error");
                    oauth(OAuthErrorCode::ServerError, None)
                }
                Page => page_failure(StatusCode::INTERNAL_SERVER_ERROR, &text),
            }
        }
    }
}

/// 503 with `Retry-After: 1`: a store the service needs cannot be reached;
/// `what` names it for the client. Logged by the caller, once an outage.
fn unavailable(style: Style, what: &str) -> Response {
    let message = format!("the service cannot reach {what}; try again shortly");
    retry_soon(match style {
        Style::Api => (
            StatusCode::SERVICE_UNAVAILABLE,
            api_body("temporarily_unavailable", message),
        )
            .into_response(),
        Style::OAuth => oauth(OAuthErrorCode::TemporarilyUnavailable, Some(message)),
        Style::Page => page::server_error_page(StatusCode::SERVICE_UNAVAILABLE),
    })
}

/// `Retry-After: 1` on a 503 that asks the client to come back.
fn retry_soon(mut response: Response) -> Response {
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    response
}

/// Logs a request refused for want of the database (a 503, `/readyz`'s
/// among them) as part of the outage's [`OutageLog`].
pub(super) fn database_outage(error: &str) {
    DATABASE_OUTAGE.refused(error);
}

/// The log of a database outage: a warning when requests start to be
/// refused, then at most one every [`OUTAGE_WARNING_EVERY_SECS`] with how
/// many were refused since the one before, and over how long (refusals
/// after a warning are told by the next one, perhaps of the next outage: the
/// span says so). A line per request (two, for pages) flooded the log with
/// hundreds a second just when it is read. Process-wide, as the log is; on
/// the monotonic clock, which a stepped wall clock cannot silence.
struct OutageLog {
    /// Seconds since [`OutageLog::since`] of the last warning, plus one; 0: none yet.
    warned_at: AtomicU64,
    refused: AtomicU64,
    since: std::sync::OnceLock<std::time::Instant>,
}

const OUTAGE_WARNING_EVERY_SECS: u64 = 10;

static DATABASE_OUTAGE: OutageLog = OutageLog {
    warned_at: AtomicU64::new(0),
    refused: AtomicU64::new(0),
    since: std::sync::OnceLock::new(),
};

impl OutageLog {
    fn refused(&self, error: &str) {
        let refused = self.refused.fetch_add(1, Ordering::Relaxed) + 1;
        let now = self
            .since
            .get_or_init(std::time::Instant::now)
            .elapsed()
            .as_secs()
            + 1;
        let last = self.warned_at.load(Ordering::Relaxed);
        let due = last == 0 || now.saturating_sub(last) >= OUTAGE_WARNING_EVERY_SECS;
        if due
            && self
                .warned_at
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            self.refused.fetch_sub(refused, Ordering::Relaxed);
            let over_secs = (last != 0).then(|| now - last);
            tracing::warn!(
                error,
                refused,
                over_secs,
                "service unavailable: the database cannot be reached (503 with Retry-After)"
            );
        }
    }
}

/// Platform endpoints and middleware answer in [`Style::Api`].
impl IntoResponse for Error {
    fn into_response(self) -> Response {
        respond(Style::Api, self)
    }
}

/// An [`Error`] shown as a page: what web page handlers return.
#[derive(Debug)]
pub struct PageError(pub Error);

impl From<Error> for PageError {
    fn from(e: Error) -> Self {
        Self(e)
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        respond(Style::Page, self.0)
    }
}

pub type PageResult<T = Response> = std::result::Result<T, PageError>;

/// Sets `X-RateLimit-Limit`, `-Remaining` and `-Reset` (UTC epoch seconds).
pub fn write_rate_limit_headers(limit: u32, remaining: u32, reset: i64, headers: &mut HeaderMap) {
    // Names made once, not parsed from text on every counted response.
    const LIMIT_NAME: HeaderName = HeaderName::from_static(LIMIT);
    const REMAINING_NAME: HeaderName = HeaderName::from_static(REMAINING);
    const RESET_NAME: HeaderName = HeaderName::from_static(RESET);
    headers.insert(LIMIT_NAME, HeaderValue::from(limit));
    headers.insert(REMAINING_NAME, HeaderValue::from(remaining));
    headers.insert(RESET_NAME, HeaderValue::from(reset));
}

fn api_body(error: &str, message: String) -> Response {
    answer(&ApiErrorBody {
        error: error.to_owned(),
        message,
        code: None,
    })
}

fn api(status: StatusCode, error: &str, message: String) -> Response {
    (status, api_body(error, message)).into_response()
}

/// Quotes an `error_description` auth-param (RFC 9110 §5.6.4) in the
/// characters RFC 6750 §3 allows there. A text may quote what a client sent
/// (a DPoP proof's `htm`): a control character in it made the header invalid,
/// and the 401 went out with no challenge at all.
fn quoted(s: &str) -> String {
    error_description(s)
}

fn with_challenge(response: Response, challenge: &str) -> Response {
    with_challenges(response, &[challenge.to_owned()])
}

/// One `WWW-Authenticate` header per scheme the client may use (RFC 9110 §11.6.1).
fn with_challenges(mut response: Response, challenges: &[String]) -> Response {
    for challenge in challenges {
        if let Ok(value) = HeaderValue::from_str(challenge) {
            (response.headers_mut()).append(header::WWW_AUTHENTICATE, value);
        }
    }
    response
}

/// A `DPoP` challenge (RFC 9449 §7.1): the error, if any, and the algorithms
/// this server verifies.
fn dpop_challenge(error: Option<(&str, &str)>) -> String {
    let algs = crate::dpop::ALGS_SUPPORTED.join(" ");
    match error {
        None => format!(r#"DPoP realm="{REALM}", algs="{algs}""#),
        Some((error, description)) => format!(
            r#"DPoP realm="{REALM}", error="{error}", error_description="{}", algs="{algs}""#,
            quoted(description)
        ),
    }
}

fn unauthenticated(reason: AuthError) -> Response {
    let description = reason.to_string();
    let bearer = format!(
        r#"Bearer realm="{REALM}", error="invalid_token", error_description="{}""#,
        quoted(&description)
    );
    let challenges = match reason {
        // RFC 6750 §3: no error code when no credentials were sent at all.
        AuthError::Missing => vec![format!(r#"Bearer realm="{REALM}""#), dpop_challenge(None)],
        // RFC 9449 §7.2: a bound token sent as Bearer is answered in the DPoP scheme.
        AuthError::KeyBound => vec![dpop_challenge(Some(("invalid_token", &description)))],
        AuthError::NotKeyBound => vec![bearer],
        _ => vec![
            bearer,
            dpop_challenge(Some(("invalid_token", &description))),
        ],
    };
    let error = match reason {
        AuthError::Missing | AuthError::UnsupportedScheme | AuthError::MetricsToken => {
            "unauthorized"
        }
        _ => "invalid_token",
    };
    with_challenges(
        api(StatusCode::UNAUTHORIZED, error, description),
        &challenges,
    )
}

/// A platform request whose DPoP proof is not acceptable: 401 with a `DPoP`
/// challenge (RFC 9449 §7.1, §9), and the nonce to use when that is the problem.
fn dpop_refused(problem: DpopError) -> Response {
    let description = problem.to_string();
    let error = match problem {
        DpopError::InvalidProof(_) => "invalid_dpop_proof",
        DpopError::UseNonce { .. } => "use_dpop_nonce",
    };
    let response = with_challenge(
        api(StatusCode::UNAUTHORIZED, error, description.clone()),
        &dpop_challenge(Some((error, &description))),
    );
    with_nonce(response, &problem)
}

/// Adds `DPoP-Nonce` when the problem is a missing nonce (RFC 9449 §8, §9).
fn with_nonce(mut response: Response, problem: &DpopError) -> Response {
    if let DpopError::UseNonce { nonce } = problem
        && let Ok(value) = HeaderValue::from_str(nonce)
    {
        (response.headers_mut()).insert(dpop::NONCE_HEADER, value);
    }
    response
}

fn insufficient_scope(required: &str) -> Response {
    let body = ApiErrorBody {
        error: "insufficient_scope".to_owned(),
        message: format!(
            "the credential is valid but lacks the scope {required}; grant it and authorize again"
        ),
        code: Some(INSUFFICIENT_SCOPE_CODE),
    };
    with_challenge(
        (StatusCode::FORBIDDEN, answer(&body)).into_response(),
        &format!(r#"Bearer realm="{REALM}", error="insufficient_scope", scope="{required}""#),
    )
}

fn oauth_status(error: &OAuthErrorCode) -> StatusCode {
    match error {
        OAuthErrorCode::InvalidClient => StatusCode::UNAUTHORIZED,
        OAuthErrorCode::ServerError => StatusCode::INTERNAL_SERVER_ERROR,
        OAuthErrorCode::TemporarilyUnavailable => StatusCode::SERVICE_UNAVAILABLE,
        OAuthErrorCode::InvalidRequest
        | OAuthErrorCode::InvalidGrant
        | OAuthErrorCode::UnauthorizedClient
        | OAuthErrorCode::UnsupportedGrantType
        | OAuthErrorCode::InvalidScope
        | OAuthErrorCode::AccessDenied
        | OAuthErrorCode::UnsupportedResponseType
        | OAuthErrorCode::AuthorizationPending
        | OAuthErrorCode::SlowDown
        | OAuthErrorCode::ExpiredToken
        | OAuthErrorCode::UnsupportedTokenType
        | OAuthErrorCode::InvalidDpopProof
        | OAuthErrorCode::UseDpopNonce
        | OAuthErrorCode::InvalidTarget
        | OAuthErrorCode::Other(_) => StatusCode::BAD_REQUEST,
    }
}

fn oauth(error: OAuthErrorCode, description: Option<String>) -> Response {
    let status = oauth_status(&error);
    let invalid_client = error == OAuthErrorCode::InvalidClient;
    let response = (
        status,
        [(header::CACHE_CONTROL, "no-store")],
        answer(&OAuthErrorBody {
            error,
            error_description: description.as_deref().map(error_description),
        }),
    )
        .into_response();
    if invalid_client {
        // RFC 6749 §5.2: a 401 for client authentication names the scheme.
        with_challenge(response, r#"Basic realm="tessera""#)
    } else {
        response
    }
}

/// A 429's body: Lofty's `{"error":"rate_limited","message"}` everywhere;
/// at the OAuth endpoints also `error_description`, where OAuth client
/// libraries look for the words (RFC 6749 defines no code for a 429).
fn limited_body(style: Style, message: String) -> Response {
    match style {
        Style::OAuth => answer(&serde_json::json!({
            "error": "rate_limited",
            "error_description": error_description(&message),
            "message": message,
        })),
        Style::Api | Style::Page => api_body("rate_limited", message),
    }
}

fn rate_limited(style: Style, limit: u32, reset: i64, now: i64) -> Response {
    // RFC 9110 §10.2.3: at least one second.
    let retry_after = (reset - now).max(1);
    let message = format!(
        "rate limit of {limit} requests per minute exceeded; retry after {retry_after} s (X-RateLimit-Reset {reset})"
    );
    let mut response = match style {
        Style::Page => page_4xx(
            StatusCode::TOO_MANY_REQUESTS,
            format!("Too many requests from your address. Try again in {retry_after} seconds."),
        ),
        Style::Api | Style::OAuth => {
            (StatusCode::TOO_MANY_REQUESTS, limited_body(style, message)).into_response()
        }
    };
    let headers = response.headers_mut();
    headers.insert(header::RETRY_AFTER, HeaderValue::from(retry_after));
    write_rate_limit_headers(limit, 0, reset, headers);
    response
}

fn slow_down(interval_secs: u64) -> Response {
    (
        StatusCode::BAD_REQUEST,
        [(header::CACHE_CONTROL, "no-store")],
        answer(&serde_json::json!({
            "error": "slow_down",
            "error_description": format!(
                "polling too fast: poll no more often than every {interval_secs} seconds"
            ),
            "interval": interval_secs,
        })),
    )
        .into_response()
}

/// A 4xx page: a heading for the status and the error's text for a person.
fn page_4xx(status: StatusCode, message: String) -> Response {
    let heading = match status {
        StatusCode::NOT_FOUND => "Not found",
        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => "Not allowed",
        StatusCode::TOO_MANY_REQUESTS => "Too many attempts",
        _ => "That did not work",
    };
    page::error_page(status, heading, message, None)
}

/// A 5xx page: the details go to the log, never to the browser.
fn page_failure(status: StatusCode, logged: &str) -> Response {
    tracing::error!(error = %logged, "web page failed");
    page::server_error_page(status)
}

/// The error answers above as OpenAPI responses (`#/components/responses/…`), so
/// the document describes what [`respond`] sends, next to it.
pub mod documented {
    use tessera_proto::{ApiErrorBody, OAuthErrorBody};

    /// Malformed request: bad JSON or form, a missing or invalid parameter, an
    /// unreadable or repeated `Authorization` header.
    #[derive(utoipa::ToResponse)]
    #[response(
        description = "The request is malformed; `message` says what to change.",
        example = json!({"error": "invalid_request", "message": "invalid JSON body: expected value at line 1 column 1"})
    )]
    pub struct BadRequest(pub ApiErrorBody);

    /// No credential, or one that is not valid (RFC 6750 §3).
    #[derive(utoipa::ToResponse)]
    #[response(
        description = "Missing, malformed, expired or revoked credentials, or a DPoP-bound token without a valid proof (`invalid_dpop_proof`, `use_dpop_nonce`).",
        headers(
            ("WWW-Authenticate" = String, description = "`Bearer realm=\"tessera\"` and `DPoP realm=\"tessera\", algs=\"…\"`, with `error=\"invalid_token\"` when a credential was sent (RFC 6750 §3, RFC 9449 §7.1); only the `DPoP` one for a DPoP-bound token."),
            ("DPoP-Nonce" = String, description = "With `use_dpop_nonce`: the nonce to sign into a new proof (RFC 9449 §9).")
        ),
        example = json!({"error": "invalid_token", "message": "the token has expired"})
    )]
    pub struct Unauthorized(pub ApiErrorBody);

    /// A valid credential without the scope the endpoint requires.
    #[derive(utoipa::ToResponse)]
    #[response(
        description = "The credential is valid but lacks the scope `THIRD_PARTY_OPERATION`: `code` is 200100.",
        headers(("WWW-Authenticate" = String, description = "`Bearer realm=\"tessera\", error=\"insufficient_scope\", scope=\"THIRD_PARTY_OPERATION\"`")),
        example = json!({"error": "insufficient_scope", "message": "the credential is valid but lacks the scope THIRD_PARTY_OPERATION; grant it and authorize again", "code": 200100})
    )]
    pub struct Forbidden(pub ApiErrorBody);

    #[derive(utoipa::ToResponse)]
    #[response(
        description = "No such resource.",
        example = json!({"error": "not_found", "message": "no such endpoint"})
    )]
    pub struct NotFound(pub ApiErrorBody);

    #[derive(utoipa::ToResponse)]
    #[response(
        description = "The request cannot be done in the present state; `message` says what to do first.",
        example = json!({"error": "conflict", "message": "this account has 1000 API keys in use, the most it may have: revoke the keys it no longer needs first (on the API keys page of https://auth.example.com)"})
    )]
    pub struct Conflict(pub ApiErrorBody);

    /// Over a rate limit ([`super::rate_limited`]: `http::openapi` adds the
    /// `X-RateLimit-*` headers), or too many attempts (one-time codes, user codes).
    #[derive(utoipa::ToResponse)]
    #[response(
        description = "Over the rate limit (with `X-RateLimit-*`, Remaining 0), or too many attempts. Wait `Retry-After` seconds. At the OAuth endpoints the body also carries the message as `error_description`.",
        headers(("Retry-After" = u64, description = "Seconds until a request will be admitted again (at least 1).")),
        example = json!({"error": "rate_limited", "message": "rate limit of 100 requests per minute exceeded; retry after 12 s (X-RateLimit-Reset 1767225660)"})
    )]
    pub struct TooManyRequests(pub ApiErrorBody);

    #[derive(utoipa::ToResponse)]
    #[response(
        description = "The database (or the shared rate-limit counters, with `rate_limit_unreachable = \"deny\"`) cannot be reached right now; retry after `Retry-After` seconds.",
        headers(("Retry-After" = u64, description = "Seconds to wait before retrying.")),
        example = json!({"error": "temporarily_unavailable", "message": "the service cannot reach its database; try again shortly"})
    )]
    pub struct Unavailable(pub ApiErrorBody);

    /// An OAuth endpoint's error (RFC 6749 §5.2); `slow_down` also carries the new
    /// `interval` (RFC 8628 §3.5).
    #[derive(utoipa::ToResponse)]
    #[response(
        description = "RFC 6749 §5.2 error. `slow_down` (device flow) also carries `interval`; `use_dpop_nonce` comes with the nonce to use (RFC 9449 §8).",
        headers(
            ("Cache-Control" = String, description = "`no-store`"),
            ("DPoP-Nonce" = String, description = "With `use_dpop_nonce`, and after any DPoP proof: the nonce for the next proof.")
        ),
        example = json!({"error": "invalid_grant", "error_description": "the authorization code has expired"})
    )]
    pub struct OAuthError(pub OAuthErrorBody);

    /// Client authentication failed (RFC 6749 §5.2 `invalid_client`).
    #[derive(utoipa::ToResponse)]
    #[response(
        description = "Client authentication failed (`invalid_client`).",
        headers(
            ("WWW-Authenticate" = String, description = "`Basic realm=\"tessera\"`"),
            ("Cache-Control" = String, description = "`no-store`")
        ),
        example = json!({"error": "invalid_client", "error_description": "unknown client or wrong secret"})
    )]
    pub struct InvalidClient(pub OAuthErrorBody);

    #[derive(utoipa::ToResponse)]
    #[response(
        description = "The database (or the shared rate-limit counters) cannot be reached right now (`temporarily_unavailable`); retry after `Retry-After` seconds.",
        headers(
            ("Cache-Control" = String, description = "`no-store`"),
            ("Retry-After" = u64, description = "Seconds to wait before retrying.")
        ),
        example = json!({"error": "temporarily_unavailable", "error_description": "the service cannot reach its database; try again shortly"})
    )]
    pub struct OAuthUnavailable(pub OAuthErrorBody);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_details_stay_out_of_the_body() {
        for style in [Style::Api, Style::OAuth, Style::Page] {
            let r = respond(style, Error::internal("secret path /var/lib/x"));
            assert_eq!(r.status(), StatusCode::INTERNAL_SERVER_ERROR, "{style:?}");
        }
    }

    /// The JSON body of an OAuth error keeps `error_description` in the set RFC
    /// 6749 §5.2 allows, whatever text the error quotes; platform messages are
    /// not OAuth descriptions and stay as written.
    #[tokio::test]
    async fn oauth_descriptions_keep_to_the_allowed_characters() {
        let quoting = || {
            Error::oauth(
                tessera_proto::OAuthErrorCode::UnsupportedGrantType,
                "unsupported grant_type \"<script>\\\"x\" \u{e9}\n",
            )
        };
        let body = crate::testing::body_json(respond(Style::OAuth, quoting())).await;
        assert_eq!(
            body["error_description"],
            "unsupported grant_type '<script>/'x' ??"
        );
        let api = respond(Style::Api, Error::BadRequest("name \"x\"".into()));
        let body = crate::testing::body_json(api).await;
        assert_eq!(body["message"], "name \"x\"");
    }

    /// What a client sent comes back in `error_description` only in the
    /// characters RFC 6749 §5.2 allows.
    #[tokio::test]
    async fn an_echoed_grant_type_keeps_to_the_allowed_characters() {
        let fx = crate::testing::Fixture::new().await;
        let response = fx
            .post_form("/oauth/token", &[("grant_type", "<script>\"x")])
            .await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        let body = crate::testing::body_json(response).await;
        assert_eq!(body["error"], "unsupported_grant_type");
        assert_eq!(
            body["error_description"],
            "unsupported grant_type '<script>/'x'"
        );
    }

    /// Every style asks the client to come back when the database is away,
    /// and the OAuth answer says why in words.
    #[tokio::test]
    async fn an_unreachable_database_is_503_with_retry_after_in_every_style() {
        for style in [Style::Api, Style::OAuth, Style::Page] {
            let gone = Error::Unavailable(sqlx::Error::PoolTimedOut);
            let r = respond(style, gone);
            assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE, "{style:?}");
            assert_eq!(r.headers()[header::RETRY_AFTER], "1", "{style:?}");
            if style == Style::OAuth {
                let body = crate::testing::body_json(r).await;
                assert_eq!(body["error"], "temporarily_unavailable");
                assert_eq!(
                    body["error_description"],
                    "the service cannot reach its database; try again shortly"
                );
            }
        }
    }

    /// A method an address does not answer says so in the route's own form,
    /// with `Allow`, not axum's empty 405 (pages keep their headers).
    #[tokio::test]
    async fn a_wrong_method_is_a_405_in_the_routes_form() {
        let fx = crate::testing::Fixture::new().await;
        let cases = [
            ("/oauth/token", "POST", "error_description"),
            ("/v1/auth/otp", "POST", "message"),
            ("/healthz", "GET,HEAD", "message"),
        ];
        for (path, allow, field) in cases {
            let r = fx.call(axum::http::Method::PUT, path, "").await;
            assert_eq!(r.status(), StatusCode::METHOD_NOT_ALLOWED, "{path}");
            assert_eq!(r.headers()[header::ALLOW], allow, "{path}");
            let body = crate::testing::body_json(r).await;
            let text = body[field].as_str().unwrap_or_default();
            assert!(text.contains("does not answer PUT"), "{path}: {body}");
        }
        let page = fx.call(axum::http::Method::DELETE, "/signin", "").await;
        assert_eq!(page.status(), StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(page.headers()[header::X_FRAME_OPTIONS], "DENY");
        let content_type = &page.headers()[header::CONTENT_TYPE];
        assert_eq!(content_type, "text/html; charset=utf-8");
    }

    /// A DPoP proof's `htm` is quoted in the refusal: a line break in it
    /// must not cost the 401 its challenge (RFC 9449 §7.1, RFC 6750 §3).
    #[test]
    fn a_quoted_control_character_keeps_the_challenge() {
        let why = "the DPoP proof is for G\r\nX-Injected: 1\u{7f}, not for this GET request";
        let r = respond(Style::Api, Error::Dpop(DpopError::InvalidProof(why.into())));
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        let challenge = r.headers()[header::WWW_AUTHENTICATE].to_str().unwrap();
        assert!(
            challenge.starts_with("DPoP ") && challenge.contains("G??X-Injected: 1?,"),
            "{challenge}"
        );
    }

    #[test]
    fn unauthenticated_carries_a_challenge() {
        let r = Error::from(AuthError::Expired).into_response();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        let challenge = r.headers()[header::WWW_AUTHENTICATE].to_str().unwrap();
        assert!(
            challenge.contains(r#"error="invalid_token""#),
            "{challenge}"
        );
    }
}
