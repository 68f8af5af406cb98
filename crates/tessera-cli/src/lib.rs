//! The `auth` commands of a platform's CLI, built on `tessera-client`, the
//! command host that runs them ([`host`]), and the generic `tessera` binary.
//!
//! Each command computes its result with everything injected ([`Ctx`],
//! [`Io`]) and renders it in words; the functions that compute (`obtain`,
//! `save`, `sources`, …) are public, so that a persona binary maps its own
//! commands onto them and renders the results in its own texts.

pub mod api;
pub mod args;
pub mod auth;
pub mod commander;
pub mod context;
pub mod docs;
pub mod error;
pub mod exit;
pub mod host;
pub mod io;
pub mod texts;

pub use context::{Ctx, Storage};
pub use error::CliError;
pub use exit::{Exit, exit_for};
pub use io::{Io, Prompter};

use clap::{Parser, Subcommand};
use host::{App, ErrorTexts, Globals, Persona};

/// The `tessera` binary: Tessera's own names, clap's usage errors, plain
/// prompts, `error: …` and `hint: …` on stderr.
pub const TESSERA: Persona = Persona {
    spec: &tessera_client::TESSERA,
    oauth: &tessera_client::TESSERA_OAUTH,
    profile: None,
    errors: ErrorTexts {
        insecure_http: Some(
            "if the server has no https, add it as an environment that allows plain http: `tessera auth env add NAME URL --insecure`",
        ),
        // `api` and the other commands that say nothing of their own: the
        // same what-to-do as `auth test` gives for a server not reached.
        unreachable: Some(
            "is the server running? `tessera auth status` shows which server is used",
        ),
        ..ErrorTexts::plain("error: ")
    },
    theme: &io::SimpleTheme,
    usage: host::clap_usage,
};

/// Tessera: API keys, profiles and environments for the Tessera platform.
#[derive(Debug, Parser)]
#[command(name = "tessera", version)]
pub struct Cli {
    /// Profile to use instead of the current one (also: TESSERA_PROFILE).
    #[arg(long, global = true, value_name = "NAME")]
    pub profile: Option<String>,
    #[command(subcommand)]
    pub command: Command,
}

// `defer`: a subcommand's arguments are defined only when it runs, so that
// `auth token` does not pay for building every other command (measured: the
// argument definitions were a third of its instructions).
#[derive(Debug, Subcommand)]
#[command(defer = true)]
pub enum Command {
    /// Log in, inspect and manage credentials, profiles and environments.
    #[command(subcommand)]
    Auth(auth::AuthCommand),
    /// Call the platform API with the right Authorization header (like `gh api`).
    #[command(help_template = api::HELP)]
    Api(api::ApiArgs),
    #[command(flatten)]
    Docs(docs::DocsCommand),
}

impl App for Cli {
    fn globals(&self) -> Globals {
        let auth = match &self.command {
            Command::Auth(command) => Some(command),
            Command::Api(_) | Command::Docs(_) => None,
        };
        Globals::auth(self.profile.clone(), auth)
    }

    fn run(self, ctx: &Ctx, io: &mut Io) -> Result<(), CliError> {
        match self.command {
            Command::Auth(command) => auth::run(command, ctx, io),
            Command::Api(args) => api::run(&args, ctx, io),
            // The host runs these without a context; this is for callers
            // that run the command tree themselves.
            Command::Docs(command) => docs::run::<Cli>(&command, io),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parsed_arguments_do_not_debug_print_keys() {
        for args in [
            &["tessera", "auth", "login", "--api-key", "sekrit-value"][..],
            &["tessera", "auth", "token", "--api-key", "sekrit-value"],
            &["tessera", "auth", "status", "--api-key", "sekrit-value"],
            &["tessera", "auth", "show", "--api-key", "sekrit-value"],
            &[
                "tessera",
                "auth",
                "login",
                "--client-credentials",
                "--client-secret",
                "sekrit-value",
            ],
            &[
                "tessera",
                "auth",
                "login",
                "--session",
                "--session-id",
                "sekrit-value",
            ],
            &[
                "tessera",
                "auth",
                "login",
                "--email",
                "a@b",
                "--otp",
                "sekrit-value",
            ],
            &["tessera", "api", "/v1/me", "--api-key", "sekrit-value"],
            &[
                "tessera",
                "api",
                "/v1/me",
                "-H",
                "Authorization: token sekrit-value",
            ],
            &["tessera", "api", "/v1/x", "-f", "password=sekrit-value"],
            &["tessera", "api", "/v1/x", "-F", "token=sekrit-value"],
            &[
                "tessera",
                "api",
                "/v1/x",
                "-d",
                r#"{"password":"sekrit-value"}"#,
            ],
        ] {
            let cli = Cli::try_parse_from(args).unwrap();
            assert!(!format!("{cli:?}").contains("sekrit"), "{args:?}");
        }
    }

    /// Session ids and generated client secrets are base64url: `-` may lead.
    #[test]
    fn secrets_may_start_with_a_dash() {
        let login = |args: &[&str]| {
            let argv = ["tessera", "auth", "login"].iter().chain(args);
            match Cli::try_parse_from(argv).unwrap().command {
                Command::Auth(auth::AuthCommand::Login(login)) => login,
                _ => panic!("not a login"),
            }
        };
        let session = login(&["--session", "--session-id", "-e4x"]);
        assert_eq!(session.session_id.unwrap().expose_secret(), "-e4x");
        let client = login(&[
            "--client-credentials",
            "--client-secret",
            "-lyq",
            "--client-id",
            "c",
        ]);
        assert_eq!(client.client_secret.unwrap().expose_secret(), "-lyq");
    }

    #[test]
    fn the_command_definition_is_consistent() {
        // Deferred subcommands are only built when used; this builds and
        // checks every one (argument names in conflicts, groups, requires).
        use clap::CommandFactory as _;
        Cli::command().debug_assert();
    }

    /// `tessera api` to a server that is down said only "cannot reach …":
    /// no hint, where `auth test` says to check the server.
    #[test]
    fn a_server_not_reached_gets_a_hint_from_every_command() {
        let refused = CliError::from(tessera_client::Error::Network {
            url: "http://127.0.0.1:9/v1/me".into(),
            source: ureq::Error::ConnectionFailed,
        });
        let mut cap = io::testing::Captured::default();
        let exit = host::report(Err(refused), false, &TESSERA.errors, &mut cap.io());
        assert_eq!(exit, Exit::Network);
        assert!(
            cap.stderr().ends_with(
                "hint: is the server running? `tessera auth status` shows which server is used\n"
            ),
            "{}",
            cap.stderr()
        );
    }

    /// `auth env --help` (and its man page) showed the rustdoc of the struct
    /// behind it, "`auth env`: a subcommand manages environments; none prints
    /// shell exports", in place of the command's own text, and lost the
    /// warning that a login bound to this machine cannot be exported.
    #[test]
    fn auth_env_help_is_the_commands_own_text() {
        use clap::CommandFactory as _;
        let mut cli = Cli::command();
        let env = cli
            .find_subcommand_mut("auth")
            .and_then(|auth| auth.find_subcommand_mut("env"))
            .expect("auth env");
        let help = env.render_long_help().to_string();
        assert!(
            help.starts_with("Manage environments (named servers); without a subcommand, print"),
            "{help}"
        );
        assert!(help.contains("bound to this machine (DPoP)"), "{help}");
        assert!(!help.contains("a subcommand manages"), "{help}");
    }

    #[test]
    fn every_exit_code_is_distinct() {
        let codes = [
            Exit::Ok,
            Exit::Failure,
            Exit::Usage,
            Exit::NotLoggedIn,
            Exit::CredentialRejected,
            Exit::Network,
            Exit::Server,
            Exit::Keychain,
            Exit::Interrupted,
        ]
        .map(Exit::code);
        assert_eq!(codes, [0, 1, 2, 3, 4, 5, 6, 7, 130]);
    }
}
