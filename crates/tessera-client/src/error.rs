//! The one error type of `tessera-client`.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot find the home directory; set the configuration directory explicitly")]
    NoHomeDir,

    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// A file that does not parse. The message carries a line number and the
    /// parser's reason, never the offending text: it may be a secret.
    #[error("{path}: {message}")]
    Parse { path: PathBuf, message: String },

    #[error("no environment named {0:?}")]
    UnknownEnvironment(String),

    #[error("no profile named {0:?}")]
    UnknownProfile(String),

    #[error("{0:?} is not a valid server URL (expected http:// or https://)")]
    InvalidUrl(String),

    /// 401: the server does not accept the credential (invalid, expired or revoked).
    #[error("the server rejected the credential: {message}")]
    Unauthorized { message: String },

    /// 403: the credential is valid but lacks a scope.
    #[error("the credential lacks the required permission: {message}")]
    Forbidden { code: Option<u32>, message: String },

    #[error("rate limited by the server{}", retry_after.map(|s| format!("; retry after {s}s")).unwrap_or_default())]
    RateLimited { retry_after: Option<u64> },

    #[error("server error {status} from {url}: {message}")]
    Server {
        url: String,
        status: u16,
        message: String,
    },

    #[error("cannot reach {url}: {source}")]
    Network {
        url: String,
        #[source]
        source: ureq::Error,
    },

    #[error("unexpected response from {url}: {message}")]
    InvalidResponse { url: String, message: String },

    /// An OAuth exchange failed: login, refresh, revocation.
    #[error(transparent)]
    OAuth(#[from] crate::oauth::OAuthError),

    /// A cached OAuth login can no longer give a token: the server refused the
    /// refresh (revoked, expired, replayed) or there is no way to renew it.
    /// The user has to log in again with `method`.
    #[error("the {method} login of profile {profile:?} has expired or was revoked: {reason}")]
    SessionExpired {
        profile: String,
        method: crate::session::LoginMethod,
        reason: String,
    },

    /// The profile's OAuth login disappeared while this process waited for the
    /// store's lock (a concurrent logout).
    #[error("profile {0:?} was logged out while this command was running")]
    LoggedOut(String),
}

impl Error {
    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Error {
        let path = path.into();
        move |source| Error::Io { path, source }
    }
}
