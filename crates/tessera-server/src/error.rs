//! The server's one error type: plain data. Which HTTP answer an error becomes —
//! platform JSON, an RFC 6749 §5.2 body or an HTML page — is decided at the edge,
//! in `http::error`, the one place that maps it.

use tessera_proto::OAuthErrorCode;
use url::Url;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Missing, malformed, expired, revoked or otherwise unacceptable credentials.
    #[error("unauthenticated: {0}")]
    Unauthenticated(#[from] AuthError),
    /// A DPoP proof (RFC 9449) that is missing, invalid, or lacks the nonce the
    /// server asks for.
    #[error("{0}")]
    Dpop(DpopError),
    /// A valid credential without the scope the endpoint requires (Lofty: 403, 200100).
    #[error("the credential lacks the scope {required}")]
    InsufficientScope { required: &'static str },
    /// Malformed input: bad JSON, oversized body, unreadable header, bad parameter.
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    NotFound(String),
    /// A method the address does not answer (405; axum sets `Allow`).
    #[error("this address does not answer {method}; the Allow header lists the methods it does")]
    MethodNotAllowed { method: String },
    /// The request conflicts with existing state (e.g. an email already registered).
    #[error("{0}")]
    Conflict(String),
    /// A subject token the token exchange does not accept, for any reason
    /// but an unreachable issuer: RFC 8693 §2.2.2 makes that `invalid_request`.
    /// It counts against the client's address as a wrong code does.
    #[error("{0}")]
    UnacceptableSubjectToken(String),
    /// An RFC 6749 error from an OAuth endpoint.
    #[error("{error}: {}", description.as_deref().unwrap_or(""))]
    OAuth {
        error: OAuthErrorCode,
        description: Option<String>,
    },
    /// Over a rate limit (Lofty: 429): `Retry-After` and the `X-RateLimit-*` headers
    /// (`Remaining` is 0).
    #[error("rate limit of {limit} requests per minute exceeded")]
    RateLimited {
        limit: u32,
        /// Unix seconds: when a request will be admitted again.
        reset: i64,
        /// The time of the decision (Unix seconds).
        now: i64,
    },
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
    #[error(
        "the one-time code is invalid or has expired (a code works only from where it was asked for); request a new one"
    )]
    InvalidOtp,
    /// An authorization request whose client or redirect URI cannot be trusted:
    /// shown as an error page, never redirected to (RFC 6749 §4.1.2.1).
    #[error("{reason}")]
    UntrustedAuthorizationRequest { reason: String },
    /// An invalid authorization request with a trusted redirect URI: the user goes
    /// back to the client with `error=` (RFC 6749 §4.1.2.1).
    #[error("{}: {}", .0.error, .0.description)]
    RedirectToClient(Box<ClientRedirect>),
    /// A page for signed-in users, visited without a session: sign in, then come
    /// back to `return_to`.
    #[error("sign in to continue")]
    SignInRequired { return_to: String },
    /// Bad settings or arguments found at startup or in an admin command.
    #[error("{0}")]
    Config(String),
    /// The request was not answered within the request timeout (a stuck
    /// dependency); worth retrying.
    #[error("the server could not finish this request within {after_secs} s; try again")]
    TimedOut { after_secs: u64 },
    /// The request timeout passed while its body was still being read: the
    /// client's bytes were late, not the server (RFC 9110 §15.5.9, 408).
    #[error("the request body did not arrive within {after_secs} s")]
    BodyTimedOut { after_secs: u64 },
    /// The database cannot be reached right now (or another process holds
    /// SQLite's lock for longer than the busy timeout, or its disk is full);
    /// worth retrying.
    #[error("database unavailable, try again: {0}")]
    Unavailable(#[source] sqlx::Error),
    #[error("database error: {0}")]
    Database(#[source] sqlx::Error),
    /// The shared rate-limit counters (Redis) cannot be reached or did not answer
    /// in time; the text says why, never the URL. Handled by
    /// `rate_limit_unreachable`; with `deny` it is the answer (503, retry).
    #[error("rate-limit counters unreachable: {0}")]
    LimiterUnreachable(String),
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
        "no credentials: send `Authorization: token <api_key>`, `Authorization: Bearer <access_token>`, or `Authorization: DPoP <access_token>` with a DPoP proof"
    )]
    Missing,
    #[error(
        "unsupported authorization scheme: use `token <api_key>`, `Bearer <access_token>` or `DPoP <access_token>`"
    )]
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
    /// An access token issued for another resource (its `aud`).
    #[error("the token is meant for another audience")]
    OtherAudience,
    /// A DPoP-bound access token sent as a Bearer token (RFC 9449 §7.2): a
    /// copy of the token is worthless without the key.
    #[error(
        "this access token is bound to a key (DPoP): send it as `Authorization: DPoP <token>` with a DPoP proof signed by that key"
    )]
    KeyBound,
    /// A token without `cnf` sent with the DPoP scheme.
    #[error("this access token is not bound to a key: send it as `Authorization: Bearer <token>`")]
    NotKeyBound,
    /// `/metrics` on a server with a `metrics_token`, without that token.
    #[error(
        "send `Authorization: Bearer <token>` with the server's metrics_token to read /metrics"
    )]
    MetricsToken,
}

/// What is wrong with a DPoP proof (RFC 9449). The text says what to change.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DpopError {
    /// Missing, malformed, replayed, or not matching the request or the key.
    #[error("invalid DPoP proof: {0}")]
    InvalidProof(String),
    /// The server asks for a nonce: sign a new proof with this one (RFC 9449 §8).
    #[error("a DPoP nonce is required: sign a new proof with the nonce in the DPoP-Nonce header")]
    UseNonce { nonce: String },
}

/// Where an authorization error sends the user: the client's redirect URI with
/// `error`, `error_description`, `state` and `iss` (RFC 9207).
#[derive(Clone, Debug)]
pub struct ClientRedirect {
    pub redirect_uri: String,
    pub error: OAuthErrorCode,
    pub description: String,
    pub state: Option<String>,
    pub issuer: String,
    /// Whether the browser may be sent there without a word: the redirect
    /// URI is an operator's, or a loopback one. Else anyone who registers an
    /// app in the portal would have a redirector on this server's name
    /// (RFC 9700 §4.11.2), so the page says where the link goes instead.
    pub automatic: bool,
}

impl ClientRedirect {
    /// The URL to redirect to; `None` if the redirect URI does not parse.
    pub fn url(&self) -> Option<Url> {
        let mut url = Url::parse(&self.redirect_uri).ok()?;
        {
            let mut q = url.query_pairs_mut();
            q.append_pair("error", self.error.as_str());
            q.append_pair("error_description", &error_description(&self.description));
            if let Some(state) = &self.state {
                q.append_pair("state", state);
            }
            q.append_pair("iss", &self.issuer);
        }
        Some(url)
    }
}

/// `text` in the characters an `error_description` may carry (RFC 6749 §5.2,
/// §4.1.2.1: `%x20-21 / %x23-5B / %x5D-7E`). Descriptions quote what the client
/// sent (a `grant_type`, a scope), so every other character is replaced, keeping
/// the text readable: `"` by `'`, `\` by `/`, anything else (control characters,
/// non-ASCII) by `?`. Both forms an OAuth error takes, the JSON body
/// (`http::error`) and the redirect ([`ClientRedirect::url`]), go through here.
pub fn error_description(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '"' => '\'',
            '\\' => '/',
            ' '..='~' => c,
            _ => '?',
        })
        .collect()
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
}

impl From<sqlx::Error> for Error {
    /// Failures that go away when the database is back (unreachable, restarting,
    /// shutting down, out of disk space) are `Unavailable` (503, retry);
    /// everything else is a bug or a broken database (500).
    fn from(e: sqlx::Error) -> Self {
        let transient = match &e {
            sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::WorkerCrashed => true,
            sqlx::Error::Database(db) => transient_code(
                db.try_downcast_ref::<sqlx::sqlite::SqliteError>().is_some(),
                &db.code().unwrap_or_default(),
            ),
            _ => false,
        };
        // PostgreSQL cannot hold a NUL character in text (SQLSTATE 22021;
        // 22P05 in JSON): a `%00` a client put in a client id, a token or a
        // code is its bad request, not the server's 500. SQLite looks it up
        // and finds nothing.
        let unstorable = matches!(&e, sqlx::Error::Database(db)
            if matches!(db.code().as_deref(), Some("22021" | "22P05")));
        if transient {
            Self::Unavailable(e)
        } else if unstorable {
            Self::BadRequest("a parameter holds a NUL character (%00); send text without it".into())
        } else {
            Self::Database(e)
        }
    }
}

/// Whether a database error code names a condition that passes by itself.
/// SQLite: SQLITE_BUSY and SQLITE_LOCKED (5, 6; the extended codes keep them
/// in the low byte), another connection's lock held past the busy timeout;
/// SQLITE_FULL (13), a full disk, over once space is freed. PostgreSQL
/// SQLSTATE class 08 (connection exception), class 53 (insufficient
/// resources: disk full, out of memory, too many connections) and
/// 57P01-57P03 (admin/crash shutdown, cannot connect now).
fn transient_code(sqlite: bool, code: &str) -> bool {
    if sqlite {
        code.parse::<u32>()
            .is_ok_and(|n| matches!(n & 0xff, 5 | 6 | 13))
    } else {
        code.starts_with("08") || code.starts_with("53") || code.starts_with("57P")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A PostgreSQL out of disk space (53100) or connections (53300) is as
    /// temporary as SQLite's full disk: 503 with Retry-After, not a 500.
    #[test]
    fn resources_running_out_are_temporary_on_either_database() {
        for code in ["53100", "53200", "53300", "08006", "57P01"] {
            assert!(transient_code(false, code), "{code}");
        }
        for code in ["23505", "40P01", "42P01", "XX000"] {
            assert!(!transient_code(false, code), "{code}");
        }
        for code in ["5", "6", "13", "517", "261"] {
            assert!(transient_code(true, code), "{code}");
        }
        assert!(
            !transient_code(true, "19"),
            "a constraint is no passing trouble"
        );
    }

    /// RFC 6749 §5.2 and §4.1.2.1: `error_description` is %x20-21 / %x23-5B /
    /// %x5D-7E. Descriptions quote what a client sent, so whatever it sent
    /// comes out inside that set, still readable.
    #[test]
    fn descriptions_keep_to_the_characters_rfc_6749_allows() {
        let allowed = |c: char| matches!(c, '\x20'..='\x21' | '\x23'..='\x5b' | '\x5d'..='\x7e');
        let sent = "unsupported grant_type \"<script>\\\"x\" \u{7f}\t\r\né€\u{0}";
        let shown = error_description(sent);
        assert_eq!(shown, "unsupported grant_type '<script>/'x' ???????");
        assert!(shown.chars().all(allowed), "{shown}");
        let every: String = (0..=0x7f).filter_map(char::from_u32).collect();
        assert!(error_description(&every).chars().all(allowed));
        let plain = "the authorization code has expired; ask again (RFC 6749 §4.1.2)";
        assert_eq!(
            error_description(plain),
            plain.replace('§', "?"),
            "allowed characters stay as they are"
        );
    }

    #[test]
    fn a_redirect_carries_the_description_in_the_allowed_set() {
        let redirect = ClientRedirect {
            redirect_uri: "http://127.0.0.1:5000/callback".into(),
            error: OAuthErrorCode::InvalidScope,
            description: "unknown scope \"admin\\\u{e9}\"".into(),
            state: Some("s\"t".into()),
            issuer: "https://auth.example".into(),
            automatic: true,
        };
        let url = redirect.url().unwrap();
        let param = |name: &str| {
            url.query_pairs()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.into_owned())
        };
        assert_eq!(
            param("error_description").as_deref(),
            Some("unknown scope 'admin/?'")
        );
        // `state` is the client's own value, returned untouched (§4.1.2.1).
        assert_eq!(param("state").as_deref(), Some("s\"t"));
    }
}
