//! Argument types and flag groups that every command tree may use: secrets
//! parsed straight into redacting newtypes, and the `--interactive` pair.

use crate::error::CliError;
use crate::io::Io;
use tessera_proto::{ApiKey, ClientSecret};

/// Clap parser for key arguments: the value goes straight into the redacting
/// newtype, so `{:?}` of parsed arguments cannot print it.
pub fn api_key_arg(value: &str) -> Result<ApiKey, std::convert::Infallible> {
    Ok(ApiKey::new(value))
}

pub fn client_secret_arg(value: &str) -> Result<ClientSecret, std::convert::Infallible> {
    Ok(ClientSecret::new(value))
}

pub fn secret_arg(value: &str) -> Result<Secret, std::convert::Infallible> {
    Ok(Secret::new(value))
}

/// A secret argument (session id, one-time code, an `api` request body or
/// field): `Debug` does not show it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    pub fn expose_secret(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

/// `--interactive/--no-interactive`, as Click's flag pair: interactive by
/// default on a terminal only.
#[derive(Debug, Default, clap::Args)]
pub struct Interactive {
    /// Prompt for missing values (the default on a terminal)
    #[arg(long, overrides_with = "no_interactive")]
    interactive: bool,
    /// Never prompt; missing values are errors
    #[arg(long, overrides_with = "interactive")]
    no_interactive: bool,
}

impl Interactive {
    /// Whether to prompt. `--interactive` without a terminal is refused.
    pub fn resolve(&self, io: &Io) -> Result<bool, CliError> {
        if self.no_interactive {
            return Ok(false);
        }
        if self.interactive && !io.stdin_is_tty {
            return Err(CliError::Usage(
                "--interactive needs a terminal; pass the values as arguments with --no-interactive"
                    .into(),
            ));
        }
        Ok(io.stdin_is_tty)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::testing::Captured;

    /// (--interactive, --no-interactive, terminal) -> prompt?
    #[test]
    fn interactive_on_a_terminal_only() {
        let cases = [
            (false, false, true, Some(true)),
            (false, false, false, Some(false)),
            (false, true, true, Some(false)),
            (true, false, true, Some(true)),
            (true, false, false, None),
        ];
        for (interactive, no_interactive, tty, want) in cases {
            let mut cap = Captured {
                tty,
                ..Default::default()
            };
            let flags = Interactive {
                interactive,
                no_interactive,
            };
            assert_eq!(
                flags.resolve(&cap.io()).ok(),
                want,
                "{interactive} {no_interactive} {tty}"
            );
        }
    }
}
