//! The help texts, laid out as Commander.js lays them out (lofty-cli is a
//! Commander program): `Usage:`, description, then `Arguments:`, `Options:` and
//! `Commands:` with terms padded to one column and descriptions wrapped at 80
//! characters, then the text added after.

const WIDTH: usize = 80;

pub struct Help<'a> {
    pub usage: &'a str,
    pub description: &'a str,
    pub arguments: &'a [(&'a str, &'a str)],
    pub options: &'a [(&'a str, &'a str)],
    pub commands: &'a [(&'a str, &'a str)],
    pub after: &'a str,
}

/// (term, description) rows of a section.
type Terms<'a> = Vec<(&'a str, &'a str)>;

const HELP_OPTION: (&str, &str) = ("-h, --help", "display help for command");

impl Help<'_> {
    pub fn render(&self) -> String {
        let width = self
            .arguments
            .iter()
            .chain(self.options)
            .chain(self.commands)
            .map(|(term, _)| term.len())
            .max()
            .unwrap_or(0);
        let mut out = format!(
            "Usage: {}\n\n{}\n",
            self.usage,
            wrap(self.description, WIDTH, 0)
        );
        for (title, items) in [
            ("Arguments:", self.arguments),
            ("Options:", self.options),
            ("Commands:", self.commands),
        ] {
            if items.is_empty() {
                continue;
            }
            out.push_str(&format!("\n{title}\n"));
            for (term, description) in items {
                let indent = 2 + width + 2;
                out.push_str(&format!(
                    "  {term:width$}  {}\n",
                    wrap(description, WIDTH, indent)
                ));
            }
        }
        if !self.after.is_empty() {
            out.push_str(&format!("\n{}\n", self.after));
        }
        out
    }
}

/// Words of `text` in lines of at most `width` characters, continuation lines
/// indented by `indent` (the first line is placed by the caller).
fn wrap(text: &str, width: usize, indent: usize) -> String {
    let room = width.saturating_sub(indent).max(20);
    let mut lines: Vec<String> = Vec::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        if !line.is_empty() && line.len() + 1 + word.len() > room {
            lines.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    lines.push(line);
    lines.join(&format!("\n{}", " ".repeat(indent)))
}

pub const AUTH_DESCRIPTION: &str = "Manage API authentication";

/// `lofty-cli auth SUBCOMMAND`: (name, term, description).
pub const AUTH_COMMANDS: [(&str, &str, &str); 10] = [
    (
        "set",
        "set <customer-key>",
        "Save your customer key (API key)",
    ),
    (
        "show",
        "show [options]",
        "Display current customer key (masked by default)",
    ),
    (
        "remove",
        "remove",
        "Delete the saved customer key and OAuth cache",
    ),
    (
        "login",
        "login",
        "Obtain an OAuth access_token using customer key + vendor credentials",
    ),
    ("status", "status", "Show current authentication status"),
    (
        "login-session",
        "login-session [options]",
        "Authenticate via Token URL using session ID (Level 0)",
    ),
    (
        "login-browser",
        "login-browser",
        "Authorize via browser using OAuth PKCE flow (like Claude CLI)",
    ),
    (
        "logout",
        "logout",
        "Clear all locally stored authentication credentials (Token URL cache, PKCE token, OAuth cache, customer key)",
    ),
    (
        "test",
        "test",
        "Verify authentication by making a test API call",
    ),
    ("help", "help [command]", "display help for command"),
];

pub fn root() -> String {
    Help {
        usage: "lofty-cli [options] [command]",
        description: "Command-line interface for the Lofty API",
        arguments: &[],
        options: &[
            ("-V, --version", "output the version number"),
            (
                "--api-url <url>",
                "API base URL (overrides LOFTY_API_URL; default http://127.0.0.1:8080)",
            ),
            HELP_OPTION,
        ],
        commands: &[
            ("auth", AUTH_DESCRIPTION),
            ("help [command]", "display help for command"),
        ],
        after: "Environment variables:
  LOFTY_CUSTOMER_KEY   customer key (API key); used instead of the saved one
  LOFTY_API_URL        API base URL (default http://127.0.0.1:8080)
  LOFTY_CLIENT_ID      vendor client ID (auth login)
  LOFTY_CLIENT_SECRET  vendor client secret (auth login)
  LOFTY_TOKEN_URL      token URL (auth login-session)
  LOFTY_SESSION_ID     session ID (auth login-session)
  LOFTY_CONFIG_DIR     configuration directory (default ~/.lofty)

The customer key and tokens are saved in ~/.lofty/credentials.toml (mode 0600).
Requests send API keys as `Authorization: token <key>` and OAuth tokens as
`Authorization: Bearer <token>`.",
    }
    .render()
}

pub fn auth() -> String {
    let commands: Vec<(&str, &str)> = AUTH_COMMANDS.iter().map(|(_, t, d)| (*t, *d)).collect();
    Help {
        usage: "lofty-cli auth [options] [command]",
        description: AUTH_DESCRIPTION,
        arguments: &[],
        options: &[HELP_OPTION],
        commands: &commands,
        after: "",
    }
    .render()
}

fn description(name: &str) -> &'static str {
    AUTH_COMMANDS
        .iter()
        .find(|(n, _, _)| *n == name)
        .map_or("", |(_, _, d)| d)
}

/// The help of `lofty-cli auth NAME`, `None` for an unknown command.
pub fn subcommand(name: &str) -> Option<String> {
    let plain = |after: &'static str| -> (String, Terms, Terms, &str) {
        (
            format!("lofty-cli auth {name} [options]"),
            vec![],
            vec![HELP_OPTION],
            after,
        )
    };
    let (usage, arguments, options, after) = match name {
        "set" => (
            "lofty-cli auth set [options] <customer-key>".to_owned(),
            vec![("customer-key", "Your Lofty customer key")],
            vec![HELP_OPTION],
            "Example:\n  lofty-cli auth set eyJhbGciOiJIUzI1NiJ9...",
        ),
        "show" => (
            "lofty-cli auth show [options]".to_owned(),
            vec![],
            vec![("--raw", "Show the full unmasked key"), HELP_OPTION],
            "Example:\n  lofty-cli auth show\n  lofty-cli auth show --raw",
        ),
        "remove" => plain("Example:\n  lofty-cli auth remove"),
        "login" => plain(
            "Requires environment variables:
  LOFTY_CLIENT_ID      Vendor client ID
  LOFTY_CLIENT_SECRET  Vendor client secret

Example:
  lofty-cli auth login",
        ),
        "status" => plain("Example:\n  lofty-cli auth status"),
        "login-session" => (
            "lofty-cli auth login-session [options]".to_owned(),
            vec![],
            vec![
                (
                    "--tokenurl <url>",
                    "Token URL (overrides LOFTY_TOKEN_URL env var)",
                ),
                (
                    "--sessionid <id>",
                    "Session ID (overrides LOFTY_SESSION_ID env var)",
                ),
                HELP_OPTION,
            ],
            "Requires environment variables (or CLI flags):
  LOFTY_TOKEN_URL   URL to obtain tokens from
  LOFTY_SESSION_ID  Session ID to authenticate with

Example:
  lofty-cli auth login-session
  lofty-cli auth login-session --tokenurl https://example.com/token --sessionid abc123",
        ),
        "login-browser" => plain(
            "This opens a browser for authorization. If browser cannot be opened,
a URL is printed for manual copy-paste.

Example:
  lofty-cli auth login-browser",
        ),
        "logout" => plain(
            "Removes all locally stored authentication credentials.
This includes PKCE token, OAuth cache, and customer key.
Environment variables already exported in your current shell are not removed.

Example:
  lofty-cli auth logout",
        ),
        "test" => plain("Example:\n  lofty-cli auth test"),
        "help" => (
            "lofty-cli auth help [options] [command]".to_owned(),
            vec![],
            vec![HELP_OPTION],
            "",
        ),
        _ => return None,
    };
    Some(
        Help {
            usage: &usage,
            description: description(name),
            arguments: &arguments,
            options: &options,
            commands: &[],
            after,
        }
        .render(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auth_help_wraps_like_commander() {
        let help = auth();
        assert!(help.starts_with(
            "Usage: lofty-cli auth [options] [command]\n\nManage API authentication\n\nOptions:\n  -h, --help               display help for command\n"
        ));
        assert!(help.contains(
            "  login                    Obtain an OAuth access_token using customer key +\n                           vendor credentials\n"
        ));
        assert!(help.contains(
            "  login-session [options]  Authenticate via Token URL using session ID (Level 0)\n"
        ));
    }

    #[test]
    fn logout_description_wraps_at_80_columns() {
        let help = subcommand("logout").unwrap();
        assert!(help.contains(
            "Clear all locally stored authentication credentials (Token URL cache, PKCE\ntoken, OAuth cache, customer key)\n"
        ));
    }
}
