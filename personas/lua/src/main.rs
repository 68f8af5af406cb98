//! `lua`: the Lua CLI's `auth` commands, as `lua-cli-auth.txt` documents them,
//! on Tessera's credential store and resolution.
//!
//! One credential, no profiles: the key lives in `~/.lua-cli/credentials`
//! (0600, directory 0700) and resolution is `LUA_API_KEY` > that file > `.env`.

mod configure;
mod key;
mod keychain;
mod logout;

use clap::{Parser, Subcommand};
use std::process::ExitCode;
use tessera_cli::host::{App, ErrorTexts, Globals, Persona};
use tessera_cli::{CliError, Ctx, Io};
use tessera_client::{AppSpec, DirDefault, Source};

/// Every name `lua` uses for its files and variables.
pub const LUA: AppSpec = AppSpec {
    name: "lua",
    config_dir_env: "LUA_CONFIG_DIR",
    config_dir_default: DirDefault::Home(".lua-cli"),
    config_file: "config.toml",
    credentials_file: "credentials",
    api_key_env: "LUA_API_KEY",
    profile_env: "LUA_PROFILE",
    url_env: "LUA_API_URL",
    default_url: "http://127.0.0.1:8080",
    dotenv_file: ".env",
    dotenv_key: "LUA_API_KEY",
    log_env: "LUA_LOG",
};

/// `lua` keeps its one key under this profile of the credentials file.
pub const PROFILE: &str = "default";

const ENVIRONMENT_HELP: &str = "\
Environment variables:
  LUA_API_KEY     API key; takes priority over ~/.lua-cli/credentials and .env
  LUA_API_URL     API server (default http://127.0.0.1:8080); --api-url overrides it
  LUA_CONFIG_DIR  use this directory instead of ~/.lua-cli
  LUA_TELEMETRY   accepted (e.g. LUA_TELEMETRY=false); this CLI never sends telemetry

Key resolution order: LUA_API_KEY, then ~/.lua-cli/credentials, then LUA_API_KEY=... in .env";

/// Lua CLI
#[derive(Parser)]
#[command(name = "lua", version, after_help = ENVIRONMENT_HELP)]
struct Cli {
    /// API server URL (overrides LUA_API_URL)
    #[arg(long, global = true, value_name = "URL")]
    api_url: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Manage authentication
    #[command(subcommand)]
    Auth(AuthCommand),
}

#[derive(Subcommand)]
enum AuthCommand {
    /// Set up authentication
    Configure(configure::ConfigureArgs),
    /// Display stored key
    Key(key::KeyArgs),
    /// Remove credentials
    Logout(logout::LogoutArgs),
}

const PERSONA: Persona = Persona {
    spec: &LUA,
    oauth: &tessera_client::TESSERA_OAUTH,
    profile: Some(PROFILE),
    errors: ErrorTexts {
        error: "❌ ",
        not_logged_in: "Error: ",
        cancelled: Some("Operation cancelled."),
        hint: "",
        unreachable: Some("Check that the Lua API is reachable (LUA_API_URL or --api-url)."),
    },
    theme: &tessera_cli::io::Inquirer,
    usage: tessera_cli::host::clap_usage,
};

impl App for Cli {
    fn globals(&self) -> Globals {
        Globals {
            api_url: self.api_url.clone(),
            ..Globals::default()
        }
    }

    fn run(self, ctx: &Ctx, io: &mut Io) -> Result<(), CliError> {
        let Command::Auth(command) = self.command;
        match command {
            AuthCommand::Configure(args) => {
                let keychain = keychain::SecretTool::new(ctx.env);
                configure::run(&args, ctx, io, &keychain)
            }
            AuthCommand::Key(args) => key::run(&args, ctx, io),
            AuthCommand::Logout(args) => logout::run(&args, ctx, io),
        }
    }
}

fn main() -> ExitCode {
    tessera_cli::host::main::<Cli>(&PERSONA)
}

/// The three documented fixes for a missing key.
const NO_KEY_FIXES: &str = "\
Authenticate using one of:
  lua auth configure          # Interactive setup (stores in ~/.lua-cli/credentials)
  export LUA_API_KEY=your-key # Environment variable
  echo \"LUA_API_KEY=key\" >> .env  # .env file";

/// `Error: No API key found.` and its fixes.
pub fn no_api_key() -> CliError {
    CliError::NotLoggedIn {
        message: "No API key found.".into(),
        hint: NO_KEY_FIXES.into(),
    }
}

/// Where a key came from, in the words of the resolution-order table.
pub fn describe(source: &Source) -> String {
    match source {
        Source::Flag => "--api-key flag".into(),
        Source::EnvVar(name) => format!("{name} environment variable"),
        Source::Profile { path, .. } => path.display().to_string(),
        Source::DotEnv { path, .. } => format!(".env file ({})", path.display()),
    }
}

/// The credentials file, for messages.
pub fn credentials_path(ctx: &Ctx) -> String {
    ctx.store.credentials_path().display().to_string()
}
