//! `llamactl`: the `llamactl auth` commands, as `llamactl-auth.txt` documents
//! them, on Tessera's store (profiles per environment), OAuth device flow and
//! platform API.
//!
//! A profile keeps its control plane API URL, its project and, optionally, an
//! API key (or the OAuth login of `auth login`). Profiles are listed and
//! chosen within the current environment (`llamactl auth env switch`).

mod commands;

use clap::{Parser, Subcommand};
use std::process::ExitCode;
use tessera_cli::{CliError, Exit, Io, exit_for};
use tessera_client::{AppSpec, DirDefault, OAuthSpec, ProcessEnv, ReloginCommands};

pub const LLAMACTL: AppSpec = AppSpec {
    name: "llamactl",
    config_dir_env: "LLAMACTL_CONFIG_DIR",
    config_dir_default: DirDefault::PlatformConfig("llamactl"),
    config_file: "config.toml",
    credentials_file: "credentials.toml",
    api_key_env: "LLAMACTL_API_KEY",
    profile_env: "LLAMACTL_PROFILE",
    url_env: "LLAMACTL_API_URL",
    default_url: "http://127.0.0.1:8080",
    dotenv_file: ".env",
    dotenv_key: "LLAMACTL_API_KEY",
    log_env: "LLAMACTL_LOG",
};

pub const LLAMACTL_OAUTH: OAuthSpec = OAuthSpec {
    default_client_id: "llamactl",
    client_id_env: "LLAMACTL_CLIENT_ID",
    client_secret_env: "LLAMACTL_CLIENT_SECRET",
    token_url_env: "LLAMACTL_TOKEN_URL",
    session_id_env: "LLAMACTL_SESSION_ID",
    // Every OAuth login of llamactl is `auth login` (device flow).
    relogin: ReloginCommands {
        client_credentials: "llamactl auth login",
        web: "llamactl auth login",
        device: "llamactl auth login",
        session: "llamactl auth login",
    },
};

const ENVIRONMENT_HELP: &str = "\
Environment variables:
  LLAMACTL_API_URL     API URL of the default environment (default http://127.0.0.1:8080)
  LLAMACTL_API_KEY     API key used instead of the current profile's
  LLAMACTL_CONFIG_DIR  configuration directory (default ~/.config/llamactl)

Profiles live in ~/.config/llamactl/config.toml; API keys and tokens in
~/.config/llamactl/credentials.toml (mode 0600).";

/// llamactl: manage LlamaDeploy deployments from the command line
#[derive(Parser)]
#[command(name = "llamactl", version, after_help = ENVIRONMENT_HELP)]
struct Cli {
    #[command(subcommand)]
    command: Top,
}

#[derive(Subcommand)]
enum Top {
    /// Authenticate and manage profiles for the current environment
    #[command(subcommand, after_help = AUTH_NOTES)]
    Auth(Auth),
}

const AUTH_NOTES: &str = "\
Notes:
  Profiles are filtered by the current environment (llamactl auth env switch).
  Non-interactive token requires both --api-key and --project-id.";

#[derive(Subcommand)]
enum Auth {
    /// Create profile from API key; validates token and selects a project
    Token(commands::TokenArgs),
    /// Login via web browser (OIDC device flow) and create a profile
    Login(commands::LoginArgs),
    /// List login profiles in the current environment
    List,
    /// Set currently logged in user/token
    Switch(commands::SwitchArgs),
    /// Delete a login and its local data
    Logout(commands::LogoutArgs),
    /// Change the active project for the current profile
    Project(commands::ProjectArgs),
    /// List, add and switch environments (control plane API URLs)
    #[command(subcommand)]
    Env(tessera_cli::auth::env::EnvCommand),
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            let exit = if e.use_stderr() {
                Exit::Usage
            } else {
                Exit::Ok
            };
            return exit.into();
        }
    };
    let env = ProcessEnv;
    tessera_cli::init_logging(&LLAMACTL, &env);
    let Top::Auth(command) = cli.command;
    tessera_cli::with_process_io(|io| {
        let result =
            tessera_cli::context_for(&LLAMACTL, &LLAMACTL_OAUTH, &env, None).and_then(|ctx| {
                match command {
                    Auth::Token(args) => commands::token(&args, &ctx, io),
                    Auth::Login(args) => commands::login(&args, &ctx, io),
                    Auth::List => commands::list(&ctx, io),
                    Auth::Switch(args) => commands::switch(&args, &ctx, io),
                    Auth::Logout(args) => commands::logout(&args, &ctx, io),
                    Auth::Project(args) => commands::project(&args, &ctx, io),
                    Auth::Env(command) => tessera_cli::auth::env::run(&command, &ctx, io),
                }
            });
        report(result, io).into()
    })
}

fn report(result: Result<(), CliError>, io: &mut Io) -> Exit {
    let _ = io.stdout.flush();
    let Err(error) = result else {
        return Exit::Ok;
    };
    let _ = writeln!(io.stderr, "Error: {error}");
    let exit = exit_for(&error);
    match error.hint() {
        Some(hint) => {
            let _ = writeln!(io.stderr, "{hint}");
        }
        None if exit == Exit::Network => {
            let _ = writeln!(
                io.stderr,
                "Check the control plane API URL: `llamactl auth env list` shows it."
            );
        }
        None => {}
    }
    exit
}
