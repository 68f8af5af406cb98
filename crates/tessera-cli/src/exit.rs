//! Exit codes: one table for every command, and the one place errors map to it.

use crate::error::CliError;
use tessera_client::Error as ClientError;
use tessera_client::KeychainProblem;
use tessera_client::oauth::OAuthError;

/// The process exit status of a command.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Exit {
    Ok = 0,
    /// Anything not covered below.
    Failure = 1,
    /// Bad flags or arguments, or a prompt needed without a terminal.
    Usage = 2,
    /// No credential found.
    NotLoggedIn = 3,
    /// The credential expired, was revoked, or is not accepted.
    CredentialRejected = 4,
    /// The server could not be reached.
    Network = 5,
    /// The server answered with an error (5xx, rate limit, unreadable
    /// response), or accepted the connection and did not answer in time.
    Server = 6,
    /// The OS keychain could not be used (no Secret Service, locked, denied,
    /// no answer in time). Nothing was written in plaintext instead.
    Keychain = 7,
    /// Ctrl-C at a prompt (128 + SIGINT, what a shell reports for it).
    Interrupted = 130,
}

impl Exit {
    pub fn code(self) -> u8 {
        self as u8
    }

    /// A stable machine-readable name, for `{"error":…}` output.
    pub fn kind(self) -> &'static str {
        match self {
            Exit::Ok | Exit::Failure => "failure",
            Exit::Usage => "usage",
            Exit::NotLoggedIn => "not_logged_in",
            Exit::CredentialRejected => "credential_rejected",
            Exit::Network => "network",
            Exit::Server => "server",
            Exit::Keychain => "keychain",
            Exit::Interrupted => "interrupted",
        }
    }
}

impl From<Exit> for std::process::ExitCode {
    fn from(exit: Exit) -> Self {
        std::process::ExitCode::from(exit.code())
    }
}

/// The exit status for an error. Exhaustive on purpose: a new error variant
/// must be given its code here.
pub fn exit_for(error: &CliError) -> Exit {
    match error {
        CliError::Usage(_) | CliError::UsageShown | CliError::NeedsTerminal { .. } => Exit::Usage,
        CliError::NotLoggedIn { .. } => Exit::NotLoggedIn,
        CliError::Expired { .. } => Exit::CredentialRejected,
        CliError::Cancelled | CliError::Conflict { .. } | CliError::Http { .. } => Exit::Failure,
        CliError::Io(_) => Exit::Failure,
        CliError::Client { source, .. } => match source {
            ClientError::Unauthorized { .. } => Exit::CredentialRejected,
            ClientError::Network { .. } | ClientError::Certificate { .. } => Exit::Network,
            // A 404 or 400 is no server trouble: the URL or the request is off.
            ClientError::Server { status, .. } if *status < 500 => Exit::Failure,
            ClientError::Server { .. }
            | ClientError::RateLimited { .. }
            // It accepted the connection, so it is up: its silence is the
            // server's trouble, as a body that stalls is.
            | ClientError::NoAnswer { .. }
            | ClientError::InvalidResponse { .. } => Exit::Server,
            ClientError::NoHomeDir
            | ClientError::Io { .. }
            | ClientError::Parse { .. }
            | ClientError::UnknownEnvironment(_)
            | ClientError::UnknownProfile(_)
            | ClientError::Forbidden { .. }
            | ClientError::SymlinkedCredentials { .. }
            | ClientError::LockHeld { .. } => Exit::Failure,
            // Refused before anything was sent: the command line (or the
            // configuration it selects) asked for something unsafe.
            ClientError::OtherOrigin { .. }
            | ClientError::InsecureHttp { .. }
            | ClientError::UntrustedConfig { .. }
            | ClientError::TlsTrust { .. }
            | ClientError::Unsendable { .. }
            | ClientError::InvalidUrl(_)
            | ClientError::NotUnicodeVar(_)
            | ClientError::UnusableServerUrl { .. }
            | ClientError::CredentialsInUrl { .. } => Exit::Usage,
            // The entry a profile refers to is gone: log in again, as when
            // there is no credential at all.
            ClientError::Keychain {
                problem: KeychainProblem::Missing,
                ..
            } => Exit::NotLoggedIn,
            ClientError::Keychain { .. } => Exit::Keychain,
            ClientError::SessionExpired { .. } | ClientError::LoggedOut(_) => {
                Exit::CredentialRejected
            }
            ClientError::OAuth(e) => exit_for_oauth(e),
        },
    }
}

/// OAuth failures: the server refusing a grant or a client is a rejected
/// credential; no answer is the network; an answer that is not OAuth, or a
/// 5xx/429 from the platform API, is the server's fault; the rest happened
/// on this machine.
fn exit_for_oauth(error: &OAuthError) -> Exit {
    match error {
        // The server's own trouble (RFC 6749 §4.1.2.1, a 5xx, a rate
        // limit), e.g. a federation issuer it cannot reach: not the
        // credential's fault.
        OAuthError::Rejected { .. } if error.is_server_trouble() => Exit::Server,
        OAuthError::Rejected { .. } => Exit::CredentialRejected,
        OAuthError::ApiRejected { status, .. } => match status {
            401 | 403 => Exit::CredentialRejected,
            429 | 500.. => Exit::Server,
            _ => Exit::Failure,
        },
        OAuthError::Unreachable { .. } => Exit::Network,
        OAuthError::BadResponse { .. }
        | OAuthError::NoAnswer { .. }
        | OAuthError::NotHttp { .. }
        | OAuthError::IssuerMismatch { .. }
        | OAuthError::MissingIssuer { .. }
        | OAuthError::MissingEndpoint(_) => Exit::Server,
        OAuthError::InvalidUrl { .. }
        | OAuthError::InvalidInput(_)
        | OAuthError::NoSubjectToken(_)
        | OAuthError::InsecureHttp { .. } => Exit::Usage,
        OAuthError::TimedOut { .. } | OAuthError::StateMismatch | OAuthError::Io { .. } => {
            Exit::Failure
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tessera_proto::{OAuthErrorBody, OAuthErrorCode};

    fn rejected(status: u16, code: &str) -> OAuthError {
        OAuthError::Rejected {
            status: Some(status),
            body: OAuthErrorBody {
                error: serde_json::from_value(serde_json::json!(code)).unwrap(),
                error_description: None,
            },
        }
    }

    /// tesserad's token endpoint answers a rate limit with 429 and
    /// `rate_limited`: the server's trouble (6), not a rejected credential
    /// (4) that would send the user to log in again.
    #[test]
    fn a_token_endpoint_over_its_limit_or_failing_is_the_server() {
        assert_eq!(exit_for_oauth(&rejected(429, "rate_limited")), Exit::Server);
        assert_eq!(exit_for_oauth(&rejected(502, "bad_gateway")), Exit::Server);
        assert_eq!(exit_for_oauth(&rejected(400, "server_error")), Exit::Server);
        assert_eq!(
            exit_for_oauth(&rejected(400, "invalid_grant")),
            Exit::CredentialRejected
        );
        assert!(matches!(
            rejected(400, "invalid_grant").oauth_code(),
            Some(OAuthErrorCode::InvalidGrant)
        ));
    }
}
