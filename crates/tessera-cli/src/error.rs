//! The one error type of the CLI. Exit codes come from `exit::exit_for`.

use std::borrow::Cow;
use tessera_client::oauth::OAuthError;

const NOT_WRITABLE: &str =
    "the configuration directory must be yours and writable: check it with `ls -ld`";
const SERVER_FAULT: &str = "the fault is on the server's side, not the credential's: try again in a while; if it persists, tell the server's operators";
const RATE_LIMITED: &str =
    "the server is limiting requests (HTTP 429), not refusing the credential: try again in a while";

/// The HTTP status an OAuth endpoint answered with, when it failed with one.
pub(crate) fn oauth_status(error: &OAuthError) -> Option<u16> {
    match error {
        OAuthError::Rejected { status, .. } => *status,
        OAuthError::ApiRejected { status, .. } | OAuthError::BadResponse { status, .. } => {
            Some(*status)
        }
        _ => None,
    }
}

/// A command failure, with a message for the user and an optional hint that
/// names what to do instead.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error("{0}")]
    Usage(String),

    /// A usage error whose explanation is already on stderr: Commander's
    /// answer to `help NAME` of no command is the group's help page there.
    #[error("see the help above")]
    UsageShown,

    /// A prompt was needed but stdin is not a terminal.
    #[error("{what} needs confirmation and stdin is not a terminal; pass {flag} to proceed")]
    NeedsTerminal { what: String, flag: &'static str },

    #[error("{message}")]
    NotLoggedIn { message: String, hint: String },

    #[error("{message}")]
    Expired { message: String, hint: String },

    /// The command cannot be done in the present state (e.g. removing an
    /// environment that still has profiles); the hint says what to do first.
    #[error("{message}")]
    Conflict { message: String, hint: String },

    #[error("cancelled")]
    Cancelled,

    /// A platform API call answered with a status that is neither success
    /// nor one of the statuses with an exit code of their own. `message` is
    /// the server's text: escaped whole, so it cannot add a line of its own.
    #[error("the server answered HTTP {status}: {}", tessera_proto::text::printable(.message))]
    Http { status: u16, message: String },

    #[error(transparent)]
    Io(#[from] std::io::Error),

    #[error("{source}")]
    Client {
        source: tessera_client::Error,
        hint: Option<String>,
    },
}

impl CliError {
    /// What to do about it, when there is something to say.
    pub fn hint(&self) -> Option<Cow<'_, str>> {
        match self {
            CliError::NotLoggedIn { hint, .. }
            | CliError::Expired { hint, .. }
            | CliError::Conflict { hint, .. } => Some(hint.into()),
            CliError::Client {
                source: tessera_client::Error::Parse { .. },
                hint: None,
            } => Some("fix the file by hand, or move it away and log in again".into()),
            CliError::Client {
                source: tessera_client::Error::Io { source, path },
                hint: None,
            } => match source.kind() {
                std::io::ErrorKind::PermissionDenied => Some(
                    tessera_client::taken_by_another_user(path)
                        .map_or(NOT_WRITABLE.into(), Cow::Owned),
                ),
                std::io::ErrorKind::ReadOnlyFilesystem => Some(NOT_WRITABLE.into()),
                std::io::ErrorKind::StorageFull | std::io::ErrorKind::QuotaExceeded => Some(
                    format!(
                        "the disk holding it is full (or your quota is used up): free some space (`df -h {}`), then try again",
                        tessera_client::shell_quote(path.parent().unwrap_or(path))
                    )
                    .into(),
                ),
                std::io::ErrorKind::NotADirectory => {
                    Some("a file stands where a directory should be: move it away".into())
                }
                _ => None,
            },
            // It is up (it took the connection): what helps is time, not
            // looking for why it does not run.
            CliError::Client {
                source:
                    tessera_client::Error::NoAnswer { .. }
                    | tessera_client::Error::OAuth(tessera_client::oauth::OAuthError::NoAnswer {
                        ..
                    }),
                hint: None,
            } => Some("the server may be overloaded or stuck; try again in a while".into()),
            // A 5xx said only the status: nothing said whose fault it was
            // or what to do, and users logged in again for nothing.
            CliError::Client {
                source: tessera_client::Error::Server { status: 500.., .. },
                hint: None,
            } => Some(SERVER_FAULT.into()),
            // The same from an OAuth endpoint (discovery, token, one-time
            // codes): a 5xx or a rate limit is no reason to check the
            // credential, which the flows' own hints would send one to do.
            CliError::Client {
                source: tessera_client::Error::OAuth(e),
                hint: None,
            } => match oauth_status(e) {
                Some(500..) => Some(SERVER_FAULT.into()),
                Some(429) if !matches!(e, OAuthError::ApiRejected { .. }) => {
                    Some(RATE_LIMITED.into())
                }
                _ => None,
            },
            CliError::Client { hint, .. } => hint.as_deref().map(Cow::Borrowed),
            CliError::Usage(_)
            | CliError::UsageShown
            | CliError::NeedsTerminal { .. }
            | CliError::Cancelled
            | CliError::Http { .. }
            | CliError::Io(_) => None,
        }
    }

    /// The library's error underneath, for a CLI to put in its own words.
    pub fn client(&self) -> Option<&tessera_client::Error> {
        match self {
            CliError::Client { source, .. } => Some(source),
            _ => None,
        }
    }

    /// The OAuth error underneath.
    pub fn oauth(&self) -> Option<&tessera_client::oauth::OAuthError> {
        match self.client()? {
            tessera_client::Error::OAuth(e) => Some(e),
            _ => None,
        }
    }

    /// [`CliError::with_hint`] when there is a hint.
    pub fn maybe_hint(self, hint: Option<String>) -> Self {
        match hint {
            Some(hint) => self.with_hint(hint),
            None => self,
        }
    }

    pub fn with_hint(self, hint: impl Into<String>) -> Self {
        match self {
            CliError::Client { source, .. } => CliError::Client {
                source,
                hint: Some(hint.into()),
            },
            other => other,
        }
    }
}

impl From<tessera_client::Error> for CliError {
    fn from(source: tessera_client::Error) -> Self {
        CliError::Client { source, hint: None }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A full disk is not a permission problem: the hint says to free space
    /// where the file is.
    #[test]
    fn a_full_disk_says_to_free_space_where_the_file_is() {
        for kind in [
            std::io::ErrorKind::StorageFull,
            std::io::ErrorKind::QuotaExceeded,
        ] {
            let error = CliError::from(tessera_client::Error::Io {
                path: "/home/me/.config/tessera/credentials.toml".into(),
                source: kind.into(),
            });
            let hint = error.hint().expect("a hint").into_owned();
            assert!(hint.contains("is full"), "{hint}");
            assert!(hint.contains("`df -h /home/me/.config/tessera`"), "{hint}");
        }
        // The command in the hint runs as shown, spaces and all.
        let error = CliError::from(tessera_client::Error::Io {
            path: "/Users/Jo Smith/.config/tessera/credentials.toml".into(),
            source: std::io::ErrorKind::StorageFull.into(),
        });
        let hint = error.hint().expect("a hint").into_owned();
        assert!(
            hint.contains("`df -h '/Users/Jo Smith/.config/tessera'`"),
            "{hint}"
        );
    }
}
