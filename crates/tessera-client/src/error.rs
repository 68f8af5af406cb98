//! The one error type of `tessera-client`.

use std::path::PathBuf;
use tessera_proto::text::printable;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot find the home directory; set the configuration directory explicitly")]
    NoHomeDir,

    /// An environment variable that names a path is set, but not to UTF-8.
    #[error("{0} is set to a path that is not valid UTF-8; set it to a UTF-8 path, or unset it")]
    NotUnicodeVar(&'static str),

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

    /// A server URL that requests cannot be built on: paths are appended to
    /// it, so a query, a fragment, or text the URL parser would rewrite (a
    /// space, `..`) would send them somewhere else than it says.
    #[error("{url:?} cannot be a server URL: {why}")]
    UnusableServerUrl { url: String, why: String },

    /// A server URL with a user name or password in it: the password would
    /// be repeated in every message and listing that names the server.
    /// `url` is shown with the password masked.
    #[error(
        "the server URL {url} carries a user name or password; remove the `user:password@` part (credentials go in the API key or the login, never in the URL)"
    )]
    CredentialsInUrl { url: String },

    /// A request carrying a stored credential was aimed at another origin
    /// than the credential's server. Nothing was sent.
    #[error(
        "refusing to send the credential for {server} to {url}: it is another server; select a profile or environment for that server instead"
    )]
    OtherOrigin { url: String, server: String },

    /// Plain `http://` to a host that is not loopback, without the user's
    /// opt-in for it. Nothing was sent.
    #[error(
        "refusing to send a credential over plain http to {url}: anyone on the network path could read it; use https"
    )]
    InsecureHttp { url: String },

    /// `config.toml` holds an insecure-http opt-in, but others could have
    /// written it.
    #[error("{path} {problem}, so its insecure-http opt-in is not trusted; fix it with: {fix}")]
    UntrustedConfig {
        path: PathBuf,
        problem: String,
        fix: String,
    },

    /// `SSL_CERT_FILE` / `SSL_CERT_DIR` do not lead to certificates.
    #[error("{path}: {reason}")]
    TlsTrust { path: PathBuf, reason: String },

    /// The server's TLS certificate was refused; `problem` says why and
    /// what to do.
    #[error("cannot connect securely to {url}: {problem}")]
    Certificate { url: String, problem: String },

    /// The OS keychain could not be used. Nothing was written anywhere else.
    #[error("{problem}{}; {}", profile.as_ref().map(|p| format!(" (profile {p:?})")).unwrap_or_default(), problem.fix())]
    Keychain {
        profile: Option<String>,
        problem: crate::keychain::KeychainProblem,
    },

    /// The credentials file is a symbolic link. Secrets are kept only in a
    /// regular file this program owns and writes in place; it is left as is.
    /// `fix` is the shell command that makes it one: the link's target moved
    /// in its place, or, for a link that leads nowhere, the link removed.
    #[error(
        "{path} is a symbolic link (to {target}); secrets are only kept in a regular file: {fix}, and try again"
    )]
    SymlinkedCredentials {
        path: PathBuf,
        target: String,
        fix: String,
    },

    /// Another process held the store's lock for all of the store's `LOCK_WAIT`.
    #[error(
        "another process has held {path} for {seconds} s (a command stopped with Ctrl-Z, or stuck); let it finish or end it (`fuser -v {path}` shows which), then try again"
    )]
    LockHeld { path: PathBuf, seconds: u64 },

    /// 401: the server does not accept the credential (invalid, expired or revoked).
    ///
    /// `message`, here and in the variants below, is the server's text: shown
    /// [`printable`], line breaks included, so that it cannot add a line that
    /// looks like this program's own (`hint: run …`).
    #[error("the server rejected the credential: {}", printable(.message))]
    Unauthorized { message: String },

    /// 403: the credential is valid but lacks a scope.
    #[error("the credential lacks the required permission: {}", printable(.message))]
    Forbidden { code: Option<u32>, message: String },

    #[error("rate limited by the server{}", retry_after.map(|s| format!("; retry after {s}s")).unwrap_or_default())]
    RateLimited { retry_after: Option<u64> },

    /// Any other status than 2xx, 401, 403 and 429: the server's trouble
    /// (5xx), or a 4xx that says the URL or request is not what it serves.
    #[error("the server answered HTTP {status} at {url}: {}", printable(.message))]
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

    /// The connection was made, but no answer came before the request's
    /// deadline: the server runs (or something listens on its port) and is
    /// stuck or overloaded. Not [`Error::Network`], whose "is the server
    /// running?" would send the user looking in the wrong place.
    #[error("the server at {url} accepted the connection but did not answer within {seconds} s")]
    NoAnswer { url: String, seconds: f64 },

    #[error("unexpected response from {url}: {}", printable(.message))]
    InvalidResponse { url: String, message: String },

    /// Nothing was sent: the request could not be built (a method that is
    /// not one, a credential an HTTP header cannot carry).
    #[error("cannot send a request to {url}: {message}")]
    Unsendable { url: String, message: String },

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
