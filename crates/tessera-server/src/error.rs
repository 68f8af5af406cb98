//! The server's one error type, and the one place it becomes an HTTP response.
//!
//! Platform endpoints (`/v1/…`) answer with [`ApiErrorBody`]; OAuth endpoints
//! (`/oauth/…`) answer in RFC 6749 §5.2 form ([`OAuthErrorBody`]): an OAuth handler
//! maps its errors through [`Error::oauth`] so that even a database failure comes
//! back as `{"error":"server_error"}`. 5xx bodies never carry internal details; those
//! go to the log.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use tessera_proto::{ApiErrorBody, INSUFFICIENT_SCOPE_CODE, OAuthErrorBody, OAuthErrorCode};

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Missing, malformed, expired, revoked or otherwise unacceptable credentials.
    #[error("unauthenticated: {0}")]
    Unauthenticated(#[from] AuthError),
    /// A valid credential without the scope the endpoint requires (Lofty: 403, 200100).
    #[error("the credential lacks the scope {required}")]
    InsufficientScope { required: &'static str },
    /// Malformed input: bad JSON, oversized body, unreadable header, bad parameter.
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    NotFound(String),
    /// The request conflicts with existing state (e.g. an email already registered).
    #[error("{0}")]
    Conflict(String),
    /// An RFC 6749 error from an OAuth endpoint.
    #[error("{error}: {}", description.as_deref().unwrap_or(""))]
    OAuth {
        error: OAuthErrorCode,
        description: Option<String>,
    },
    /// Over a rate limit (Lofty: 429): `Retry-After` and the `X-RateLimit-*` headers.
    #[error("rate limit of {} requests per minute exceeded", .0.limit)]
    RateLimited(crate::ratelimit::Decision),
    /// RFC 8628 §3.5 `slow_down`: the device polled too fast. The body also carries
    /// the new `interval`, so a client need not track the +5 s itself.
    #[error("slow_down: poll no more often than every {interval_secs} s")]
    SlowDown { interval_secs: u64 },
    /// Too many attempts (one-time code requests, user-code guesses); retry later.
    #[error("{message}")]
    TooManyRequests {
        message: String,
        retry_after_secs: u64,
    },
    /// A wrong, expired, used or burnt email one-time code (`/v1/auth/otp/verify`).
    #[error("the one-time code is invalid or has expired; request a new one")]
    InvalidOtp,
    /// Bad settings or arguments found at startup or in an admin command.
    #[error("{0}")]
    Config(String),
    /// The database cannot be reached right now; worth retrying.
    #[error("database unavailable: {0}")]
    Unavailable(#[source] sqlx::Error),
    #[error("database error: {0}")]
    Database(#[source] sqlx::Error),
    #[error("migration failed: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),
    /// A bug or an environment failure (I/O, crypto); details stay in the log.
    #[error("internal error: {0}")]
    Internal(String),
}

/// Why a credential was not accepted. The text goes into `WWW-Authenticate`'s
/// `error_description` and the body, so it says what is wrong, never the secret.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error(
        "no credentials: send `Authorization: token <api_key>` or `Authorization: Bearer <access_token>`"
    )]
    Missing,
    #[error("unsupported authorization scheme: use `token <api_key>` or `Bearer <access_token>`")]
    UnsupportedScheme,
    #[error("the token is malformed")]
    Malformed,
    /// Any `alg` but EdDSA, including `none` and HMAC (algorithm confusion).
    #[error("the token's algorithm is not accepted")]
    BadAlgorithm,
    #[error("the token was signed by an unknown key")]
    UnknownKey,
    #[error("the token's signature is invalid")]
    BadSignature,
    /// An access token presented as an API key, or the reverse.
    #[error("this kind of token is not accepted here")]
    WrongTokenUse,
    #[error("the token has expired")]
    Expired,
    #[error("the token has been revoked")]
    Revoked,
    #[error("the token's account no longer exists")]
    UnknownAccount,
}

impl Error {
    pub fn internal(context: impl std::fmt::Display) -> Self {
        Self::Internal(context.to_string())
    }

    pub fn oauth(error: OAuthErrorCode, description: impl Into<String>) -> Self {
        Self::OAuth {
            error,
            description: Some(description.into()),
        }
    }

    /// The same error in RFC 6749 form, for `/oauth/*` handlers:
    /// `handler().await.map_err(Error::into_oauth)`.
    pub fn into_oauth(self) -> Self {
        let (error, description) = match self {
            // The platform's 429 body on every endpoint: RFC 6749 has no code for it.
            Self::OAuth { .. }
            | Self::RateLimited(_)
            | Self::TooManyRequests { .. }
            | Self::SlowDown { .. } => return self,
            Self::InvalidOtp => (
                OAuthErrorCode::InvalidGrant,
                Some(Self::InvalidOtp.to_string()),
            ),
            Self::BadRequest(m) => (OAuthErrorCode::InvalidRequest, Some(m)),
            Self::Unauthenticated(e) => (OAuthErrorCode::InvalidGrant, Some(e.to_string())),
            Self::InsufficientScope { required } => (
                OAuthErrorCode::InvalidScope,
                Some(format!("the scope {required} is required")),
            ),
            Self::NotFound(m) | Self::Conflict(m) => (OAuthErrorCode::InvalidRequest, Some(m)),
            Self::Unavailable(e) => {
                tracing::warn!(error = %e, "database unavailable");
                (OAuthErrorCode::TemporarilyUnavailable, None)
            }
            e @ (Self::Config(_) | Self::Database(_) | Self::Migration(_) | Self::Internal(_)) => {
                tracing::error!(error = %e, "internal error");
                (OAuthErrorCode::ServerError, None)
            }
        };
        Self::OAuth { error, description }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            Self::Unauthenticated(_) => StatusCode::UNAUTHORIZED,
            Self::InsufficientScope { .. } => StatusCode::FORBIDDEN,
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::RateLimited(_) => StatusCode::TOO_MANY_REQUESTS,
            Self::OAuth { error, .. } => match error {
                OAuthErrorCode::InvalidClient => StatusCode::UNAUTHORIZED,
                OAuthErrorCode::ServerError => StatusCode::INTERNAL_SERVER_ERROR,
                OAuthErrorCode::TemporarilyUnavailable => StatusCode::SERVICE_UNAVAILABLE,
                _ => StatusCode::BAD_REQUEST,
            },
            Self::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::SlowDown { .. } => StatusCode::BAD_REQUEST,
            Self::InvalidOtp => StatusCode::UNAUTHORIZED,
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Config(_) | Self::Database(_) | Self::Migration(_) | Self::Internal(_) => {
                StatusCode::INTERNAL_SERVER_ERROR
            }
        }
    }
}

impl From<sqlx::Error> for Error {
    /// Failures that go away when the database is back (unreachable, restarting,
    /// shutting down) are `Unavailable` (503, retry); everything else is a bug or
    /// a broken database (500).
    fn from(e: sqlx::Error) -> Self {
        let transient = match &e {
            sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::WorkerCrashed => true,
            // PostgreSQL SQLSTATE class 08 (connection exception) and 57P01-57P03
            // (admin/crash shutdown, cannot connect now).
            sqlx::Error::Database(db) => db
                .code()
                .is_some_and(|c| c.starts_with("08") || c.starts_with("57P")),
            _ => false,
        };
        if transient {
            Self::Unavailable(e)
        } else {
            Self::Database(e)
        }
    }
}

const REALM: &str = "tessera";

fn api_body(error: &str, message: String, code: Option<u32>) -> axum::Json<ApiErrorBody> {
    axum::Json(ApiErrorBody {
        error: error.to_owned(),
        message,
        code,
    })
}

/// Quotes a value for an auth-param (RFC 9110 §5.6.4): our texts carry no `"` or `\`,
/// but never let one break the header.
fn quoted(s: &str) -> String {
    s.replace(['"', '\\'], "'")
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        let status = self.status();
        match self {
            Self::Unauthenticated(reason) => {
                // RFC 6750 §3: no error code when no credentials were sent at all.
                let challenge = match reason {
                    AuthError::Missing => format!(r#"Bearer realm="{REALM}""#),
                    _ => format!(
                        r#"Bearer realm="{REALM}", error="invalid_token", error_description="{}""#,
                        quoted(&reason.to_string())
                    ),
                };
                let error = match reason {
                    AuthError::Missing | AuthError::UnsupportedScheme => "unauthorized",
                    _ => "invalid_token",
                };
                let mut response =
                    (status, api_body(error, reason.to_string(), None)).into_response();
                if let Ok(value) = HeaderValue::from_str(&challenge) {
                    response
                        .headers_mut()
                        .insert(header::WWW_AUTHENTICATE, value);
                }
                response
            }
            Self::InsufficientScope { required } => {
                let mut response = (
                    status,
                    api_body(
                        "insufficient_scope",
                        format!(
                            "the credential is valid but lacks the scope {required}; grant it and authorize again"
                        ),
                        Some(INSUFFICIENT_SCOPE_CODE),
                    ),
                )
                    .into_response();
                let challenge = format!(
                    r#"Bearer realm="{REALM}", error="insufficient_scope", scope="{required}""#
                );
                if let Ok(value) = HeaderValue::from_str(&challenge) {
                    response
                        .headers_mut()
                        .insert(header::WWW_AUTHENTICATE, value);
                }
                response
            }
            Self::BadRequest(message) => {
                (status, api_body("invalid_request", message, None)).into_response()
            }
            Self::NotFound(message) => {
                (status, api_body("not_found", message, None)).into_response()
            }
            Self::Conflict(message) => {
                (status, api_body("conflict", message, None)).into_response()
            }
            Self::OAuth { error, description } => {
                let invalid_client = error == OAuthErrorCode::InvalidClient;
                let mut response = (
                    status,
                    [(header::CACHE_CONTROL, "no-store")],
                    axum::Json(OAuthErrorBody {
                        error,
                        error_description: description,
                    }),
                )
                    .into_response();
                if invalid_client {
                    // RFC 6749 §5.2: a 401 for client authentication names the scheme.
                    response.headers_mut().insert(
                        header::WWW_AUTHENTICATE,
                        HeaderValue::from_static(r#"Basic realm="tessera""#),
                    );
                }
                response
            }
            Self::RateLimited(decision) => {
                let mut response = (
                    status,
                    [(header::RETRY_AFTER, decision.retry_after().to_string())],
                    api_body(
                        "rate_limited",
                        format!(
                            "rate limit of {} requests per minute exceeded; retry after {} s (X-RateLimit-Reset {})",
                            decision.limit,
                            decision.retry_after(),
                            decision.reset
                        ),
                        None,
                    ),
                )
                    .into_response();
                crate::ratelimit::http::write_headers(&decision, response.headers_mut());
                response
            }
            Self::SlowDown { interval_secs } => (
                status,
                [(header::CACHE_CONTROL, "no-store")],
                axum::Json(serde_json::json!({
                    "error": "slow_down",
                    "error_description": format!(
                        "polling too fast: poll no more often than every {interval_secs} seconds"
                    ),
                    "interval": interval_secs,
                })),
            )
                .into_response(),
            Self::TooManyRequests {
                message,
                retry_after_secs,
            } => (
                status,
                [(header::RETRY_AFTER, retry_after_secs.to_string())],
                api_body("rate_limited", message, None),
            )
                .into_response(),
            e @ Self::InvalidOtp => {
                (status, api_body("invalid_otp", e.to_string(), None)).into_response()
            }
            Self::Unavailable(e) => {
                tracing::warn!(error = %e, "database unavailable");
                (
                    status,
                    [(header::RETRY_AFTER, "1")],
                    api_body(
                        "temporarily_unavailable",
                        "the service cannot reach its database; try again shortly".into(),
                        None,
                    ),
                )
                    .into_response()
            }
            e @ (Self::Config(_) | Self::Database(_) | Self::Migration(_) | Self::Internal(_)) => {
                tracing::error!(error = %e, "internal error");
                (
                    status,
                    api_body("server_error", "internal server error".into(), None),
                )
                    .into_response()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_details_stay_out_of_the_body() {
        let r = Error::internal("secret path /var/lib/x").into_response();
        assert_eq!(r.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let r = Error::internal("boom").into_oauth().into_response();
        assert_eq!(r.status(), StatusCode::INTERNAL_SERVER_ERROR);
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
