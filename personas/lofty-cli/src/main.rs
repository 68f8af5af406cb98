//! `lofty-cli`: the Lofty CLI's `auth` commands, as `lofty-cli-auth.txt`
//! documents them, on Tessera's store, resolution and OAuth flows.
//!
//! One account per machine, as the Lofty CLI has: the customer key and the
//! cached OAuth login live in `~/.lofty/credentials.toml` (0600, directory
//! 0700). Resolution: `LOFTY_CUSTOMER_KEY` > saved key > `.env`; requests use a
//! cached OAuth token (`Bearer`) when there is one, else the key (`token`).

mod commands;
mod help;

use clap::{Parser, Subcommand};
use std::process::ExitCode;
use tessera_cli::host::{App, ErrorTexts, Globals, Persona};
use tessera_cli::{CliError, Ctx, Io};
use tessera_client::{AppSpec, DirDefault, OAuthSpec, ReloginCommands};

pub const LOFTY: AppSpec = AppSpec {
    name: "lofty-cli",
    config_dir_env: "LOFTY_CONFIG_DIR",
    config_dir_default: DirDefault::Home(".lofty"),
    config_file: "config.toml",
    credentials_file: "credentials.toml",
    api_key_env: "LOFTY_CUSTOMER_KEY",
    profile_env: "LOFTY_PROFILE",
    url_env: "LOFTY_API_URL",
    default_url: "http://127.0.0.1:8080",
    dotenv_file: ".env",
    dotenv_key: "LOFTY_CUSTOMER_KEY",
    log_env: "LOFTY_LOG",
};

pub const LOFTY_OAUTH: OAuthSpec = OAuthSpec {
    default_client_id: "lofty-cli",
    client_id_env: "LOFTY_CLIENT_ID",
    client_secret_env: "LOFTY_CLIENT_SECRET",
    token_url_env: "LOFTY_TOKEN_URL",
    session_id_env: "LOFTY_SESSION_ID",
    relogin: ReloginCommands {
        client_credentials: "lofty-cli auth login",
        web: "lofty-cli auth login-browser",
        // lofty-cli has no device login; its browser login is the interactive one.
        device: "lofty-cli auth login-browser",
        session: "lofty-cli auth login-session",
    },
};

/// The single profile the Lofty CLI keeps.
pub const PROFILE: &str = "default";

#[derive(Parser)]
#[command(
    name = "lofty-cli",
    version,
    disable_help_subcommand = true,
    arg_required_else_help = true,
    override_help = help::root()
)]
struct Cli {
    #[arg(long, global = true, value_name = "url")]
    api_url: Option<String>,
    #[command(subcommand)]
    command: Top,
}

#[derive(Subcommand)]
enum Top {
    #[command(
        subcommand,
        disable_help_subcommand = true,
        arg_required_else_help = true,
        override_help = help::auth()
    )]
    Auth(Auth),
    #[command(override_help = help::root())]
    Help { command: Option<String> },
}

#[derive(Subcommand)]
enum Auth {
    #[command(override_help = sub("set"))]
    Set {
        #[arg(value_name = "customer-key", value_parser = tessera_cli::args::api_key_arg)]
        customer_key: tessera_proto::ApiKey,
    },
    #[command(override_help = sub("show"))]
    Show {
        #[arg(long)]
        raw: bool,
    },
    #[command(override_help = sub("remove"))]
    Remove,
    #[command(override_help = sub("login"))]
    Login,
    #[command(override_help = sub("status"))]
    Status,
    #[command(override_help = sub("login-session"))]
    LoginSession {
        #[arg(long, value_name = "url")]
        tokenurl: Option<String>,
        #[arg(long, value_name = "id", value_parser = session_id_arg)]
        sessionid: Option<commands::SessionId>,
    },
    #[command(override_help = sub("login-browser"))]
    LoginBrowser,
    #[command(override_help = sub("logout"))]
    Logout,
    #[command(override_help = sub("test"))]
    Test,
    #[command(override_help = sub("help"))]
    Help { command: Option<String> },
}

fn sub(name: &str) -> String {
    help::subcommand(name).expect("a documented command")
}

fn session_id_arg(value: &str) -> Result<commands::SessionId, std::convert::Infallible> {
    Ok(commands::SessionId::new(value))
}

const PERSONA: Persona = Persona {
    spec: &LOFTY,
    oauth: &LOFTY_OAUTH,
    profile: Some(PROFILE),
    errors: ErrorTexts {
        error: "error: ",
        not_logged_in: "error: ",
        cancelled: None,
        hint: "",
        unreachable: Some("Check that the Lofty API is reachable (LOFTY_API_URL or --api-url)."),
    },
    theme: &tessera_cli::io::SimpleTheme,
    usage: tessera_cli::commander::usage_error,
};

impl App for Cli {
    fn globals(&self) -> Globals {
        Globals {
            api_url: self.api_url.clone(),
            ..Globals::default()
        }
    }

    fn run(self, ctx: &Ctx, io: &mut Io) -> Result<(), CliError> {
        match self.command {
            Top::Help { command } => match command.as_deref() {
                None | Some("help") => print_help(io, None, help::root()),
                Some("auth") => print_help(io, None, help::auth()),
                Some(other) => Err(unknown(other)),
            },
            Top::Auth(auth) => match auth {
                Auth::Help { command } => print_help(io, command.as_deref(), help::auth()),
                Auth::Set { customer_key } => commands::set(ctx, io, customer_key),
                Auth::Show { raw } => commands::show(ctx, io, raw),
                Auth::Remove => commands::remove(ctx, io),
                Auth::Login => commands::login(ctx, io),
                Auth::Status => commands::status(ctx, io),
                Auth::LoginSession {
                    tokenurl,
                    sessionid,
                } => commands::login_session(ctx, io, tokenurl, sessionid),
                Auth::LoginBrowser => commands::login_browser(ctx, io),
                Auth::Logout => commands::logout(ctx, io),
                Auth::Test => commands::test(ctx, io),
            },
        }
    }
}

fn main() -> ExitCode {
    tessera_cli::host::main::<Cli>(&PERSONA)
}

fn unknown(name: &str) -> CliError {
    CliError::Usage(format!("unknown command '{name}'"))
}

/// `help [command]`: the command's help, or Commander's error for an unknown one.
fn print_help(io: &mut Io, command: Option<&str>, own: String) -> Result<(), CliError> {
    let text = match command {
        None => own,
        Some(name) => help::subcommand(name).ok_or_else(|| unknown(name))?,
    };
    write!(io.stdout, "{text}")?;
    Ok(())
}
