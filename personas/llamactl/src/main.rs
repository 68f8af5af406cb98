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
use tessera_cli::host::{App, ErrorTexts, Persona};
use tessera_cli::{CliError, Ctx, Io};
use tessera_client::{AppSpec, DirDefault, OAuthSpec, ReloginCommands};

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

const PERSONA: Persona = Persona {
    spec: &LLAMACTL,
    oauth: &LLAMACTL_OAUTH,
    profile: None,
    errors: ErrorTexts {
        error: "Error: ",
        not_logged_in: "Error: ",
        cancelled: None,
        hint: "",
        unreachable: Some("Check the control plane API URL: `llamactl auth env list` shows it."),
    },
    theme: &tessera_cli::io::SimpleTheme,
    usage: tessera_cli::host::clap_usage,
};

impl App for Cli {
    fn run(self, ctx: &Ctx, io: &mut Io) -> Result<(), CliError> {
        let Top::Auth(command) = self.command;
        match command {
            Auth::Token(args) => commands::token(&args, ctx, io),
            Auth::Login(args) => commands::login(&args, ctx, io),
            Auth::List => commands::list(ctx, io),
            Auth::Switch(args) => commands::switch(&args, ctx, io),
            Auth::Logout(args) => commands::logout(&args, ctx, io),
            Auth::Project(args) => commands::project(&args, ctx, io),
            Auth::Env(command) => tessera_cli::auth::env::run(&command, ctx, io),
        }
    }
}

fn main() -> ExitCode {
    tessera_cli::host::main::<Cli>(&PERSONA)
}
