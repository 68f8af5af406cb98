//! Clap command groups built on `tessera-client`, and the generic `tessera`
//! binary's entry point.
//!
//! Each command is an argument struct plus a `run(args, ctx, io)` function with
//! everything injected ([`Ctx`], [`Io`]), so persona binaries mount the pieces
//! they need under their own names and texts, and tests drive them without a
//! terminal.

pub mod api;
pub mod auth;
pub mod context;
pub mod error;
pub mod exit;
pub mod io;

pub use context::Ctx;
pub use error::CliError;
pub use exit::{Exit, exit_for};
pub use io::{Io, Prompter, TerminalPrompter};

use clap::{Parser, Subcommand};
use serde::Serialize;
use std::io::IsTerminal as _;
use std::process::ExitCode;
use tessera_client::{AppSpec, EnvVars, ProcessEnv, Store};

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
    Api(api::ApiArgs),
}

/// The whole `tessera` process: parse, optional logging, run, report.
pub fn main_for(spec: &AppSpec) -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() {
                Exit::Usage.code()
            } else {
                Exit::Ok.code()
            });
        }
    };
    let env = ProcessEnv;
    init_logging(spec, &env);
    let json = match &cli.command {
        Command::Auth(command) => command.json(),
        Command::Api(_) => false,
    };
    with_process_io(|io| {
        let result = context(spec, &env, cli.profile).and_then(|ctx| match cli.command {
            Command::Auth(command) => auth::run(command, &ctx, io),
            Command::Api(args) => api::run(&args, &ctx, io),
        });
        report(result, json, io).into()
    })
}

/// Runs `f` with the process's real stdin, stdout, stderr and terminal
/// prompter; persona binaries use it to run the commands they mount.
///
/// stderr and stdin are not held locked: a progress spinner draws on stderr
/// from its own thread, and a web login reads a pasted redirect from stdin on
/// another thread; either would wait forever on a lock held here.
pub fn with_process_io<R>(f: impl FnOnce(&mut Io) -> R) -> R {
    with_process_io_and(&mut TerminalPrompter, f)
}

/// [`with_process_io`] with the application's own prompter, e.g. a
/// [`io::ThemedPrompter`] drawing prompts as its documentation shows them.
pub fn with_process_io_and<R>(prompter: &mut dyn Prompter, f: impl FnOnce(&mut Io) -> R) -> R {
    let mut stdout = std::io::stdout().lock();
    let mut stderr = std::io::stderr();
    let stderr_is_tty = stderr.is_terminal();
    let stdin = std::io::stdin();
    let stdin_is_tty = stdin.is_terminal();
    let mut stdin = std::io::BufReader::new(stdin);
    f(&mut Io {
        stdout: &mut stdout,
        stderr: &mut stderr,
        stdin: &mut stdin,
        stdin_is_tty,
        stderr_is_tty,
        prompter,
    })
}

/// The context of a real process.
pub fn context<'a>(
    spec: &'a AppSpec,
    env: &'a dyn EnvVars,
    profile_flag: Option<String>,
) -> Result<Ctx<'a>, CliError> {
    context_for(spec, &tessera_client::TESSERA_OAUTH, env, profile_flag)
}

/// [`context`] for an application with its own OAuth names (a persona's
/// client id and variables).
pub fn context_for<'a>(
    spec: &'a AppSpec,
    oauth: &'a tessera_client::OAuthSpec,
    env: &'a dyn EnvVars,
    profile_flag: Option<String>,
) -> Result<Ctx<'a>, CliError> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    Ok(Ctx {
        spec,
        oauth,
        env,
        cwd: std::env::current_dir()?,
        now,
        clock: &tessera_client::oauth::SystemClock,
        browser: &tessera_client::oauth::SystemBrowser,
        store: Store::open(spec, env)?,
        profile_flag,
    })
}

#[derive(Serialize)]
struct ErrorJson<'a> {
    error: String,
    kind: &'static str,
    exit_code: u8,
    #[serde(skip_serializing_if = "Option::is_none")]
    hint: Option<&'a str>,
}

/// Prints an error (as `{"error":…}` when `json`) on stderr and returns the
/// exit status. The only place a command's outcome becomes an exit code.
pub fn report(result: Result<(), CliError>, json: bool, io: &mut Io) -> Exit {
    let _ = io.stdout.flush();
    let Err(error) = result else {
        return Exit::Ok;
    };
    let exit = exit_for(&error);
    tracing::debug!(kind = error.kind(), code = exit.code(), "command failed");
    if json {
        let body = ErrorJson {
            error: error.to_string(),
            kind: error.kind(),
            exit_code: exit.code(),
            hint: error.hint(),
        };
        let _ = serde_json::to_writer(&mut *io.stderr, &body);
        let _ = writeln!(io.stderr);
    } else {
        let _ = writeln!(io.stderr, "error: {error}");
        if let Some(hint) = error.hint() {
            let _ = writeln!(io.stderr, "hint: {hint}");
        }
    }
    exit
}

/// Logging is off unless the application's log variable or `RUST_LOG` asks for
/// it: building a filter costs more than `auth token` itself.
pub fn init_logging(spec: &AppSpec, env: &dyn EnvVars) {
    let Some(filter) = env.var(spec.log_env).or_else(|| env.var("RUST_LOG")) else {
        return;
    };
    let _ = tracing_subscriber::fmt()
        // ureq's protocol layer dumps request and response bodies at trace
        // level, and OAuth bodies carry tokens: cap it at debug, always.
        .with_env_filter(tracing_subscriber::EnvFilter::new(format!(
            "{filter},ureq_proto=debug"
        )))
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .try_init();
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
        ] {
            let cli = Cli::try_parse_from(args).unwrap();
            assert!(!format!("{cli:?}").contains("sekrit"), "{args:?}");
        }
    }

    #[test]
    fn the_command_definition_is_consistent() {
        // Deferred subcommands are only built when used; this builds and
        // checks every one (argument names in conflicts, groups, requires).
        use clap::CommandFactory as _;
        Cli::command().debug_assert();
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
        ]
        .map(Exit::code);
        assert_eq!(codes, [0, 1, 2, 3, 4, 5, 6]);
    }
}
