//! `lua`: the Lua CLI's `auth` commands, as `lua-cli-auth.txt` documents them,
//! on Tessera's command host. Words, file locations and variable names are in
//! `texts.rs`; this file is the command tree and what each command does.
//!
//! One credential, no profiles: the key lives in `~/.lua-cli/credentials`
//! (0600, directory 0700) and resolution is `LUA_API_KEY` > that file > `.env`.

mod texts;

use clap::{Parser, Subcommand};
use tessera_cli::auth::save::{Saved, save};
use tessera_cli::auth::{login, show};
use tessera_cli::docs::DocsCommand;
use tessera_cli::host::{App, Globals, Persona};
use tessera_cli::{CliError, Ctx, Io};
use tessera_client::Error as ClientError;
use tessera_client::oauth::OAuthError;
use tessera_proto::ApiKey;

/// `lua` keeps its one key under this profile of the credentials file.
pub const PROFILE: &str = "default";

const PERSONA: Persona = Persona {
    spec: &texts::LUA,
    oauth: &tessera_client::TESSERA_OAUTH,
    profile: Some(PROFILE),
    errors: texts::ERRORS,
    theme: &tessera_cli::io::Inquirer,
    usage: tessera_cli::host::clap_usage,
};

#[derive(Parser)]
#[command(name = "lua", version, about = texts::ABOUT, after_help = texts::ENVIRONMENT_HELP)]
struct Cli {
    #[arg(long, global = true, value_name = "URL", help = texts::API_URL)]
    api_url: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    #[command(subcommand, about = texts::AUTH)]
    Auth(Auth),
    #[command(flatten)]
    Docs(DocsCommand),
}

#[derive(Subcommand)]
enum Auth {
    #[command(about = texts::CONFIGURE, help_template = texts::CONFIGURE_HELP)]
    Configure(Configure),
    #[command(about = texts::KEY, help_template = texts::KEY_HELP)]
    Key {
        #[arg(long, help = texts::FORCE_KEY)]
        force: bool,
    },
    #[command(about = texts::LOGOUT, help_template = texts::LOGOUT_HELP)]
    Logout {
        #[arg(long, help = texts::FORCE_LOGOUT)]
        force: bool,
    },
}

#[derive(clap::Args)]
struct Configure {
    #[arg(long, value_name = "key", value_parser = tessera_cli::args::api_key_arg,
          conflicts_with_all = ["email", "otp"], help = texts::API_KEY)]
    api_key: Option<ApiKey>,
    #[arg(long, value_name = "email", help = texts::EMAIL)]
    email: Option<String>,
    #[arg(long, value_name = "code", requires = "email", help = texts::OTP)]
    otp: Option<String>,
}

impl App for Cli {
    fn globals(&self) -> Globals {
        Globals::api_url(&self.api_url)
    }

    fn run(self, ctx: &Ctx, io: &mut Io) -> Result<(), CliError> {
        let command = match self.command {
            Command::Auth(command) => command,
            Command::Docs(command) => return tessera_cli::docs::run::<Cli>(&command, io),
        };
        match command {
            Auth::Configure(args) => configure(&args, ctx, io),
            Auth::Key { force } => {
                let found = show::key(ctx, io)?.ok_or_else(texts::no_api_key)?;
                confirm(io, force, texts::SHOW_KEY, texts::SHOW_KEY_WHAT)?;
                Ok(texts::key(io, &found)?)
            }
            // The key is not revoked on the server, as documented.
            Auth::Logout { force } => {
                if !ctx.store.credentials_path().exists() {
                    return Ok(texts::nothing_to_delete(ctx, io)?);
                }
                confirm(io, force, texts::DELETE_KEY, texts::DELETE_KEY_WHAT)?;
                ctx.store.lock()?.remove_credentials()?;
                Ok(texts::deleted(ctx, io)?)
            }
        }
    }
}

fn main() -> std::process::ExitCode {
    tessera_cli::host::main::<Cli>(&PERSONA)
}

/// Asks unless `--force`; without a terminal, fails naming `--force`.
fn confirm(io: &mut Io, force: bool, question: &str, what: &str) -> Result<(), CliError> {
    if !force && !io.confirm_or_flag(question, what, "--force")? {
        return Err(CliError::Cancelled);
    }
    Ok(())
}

/// With a flag it never prompts (CI, scripts, AI IDEs). Without one it first
/// migrates a key left in the OS keychain by versions before 3.9.0, then asks
/// on a terminal which method to use, and names the flags without one.
fn configure(args: &Configure, ctx: &Ctx, io: &mut Io) -> Result<(), CliError> {
    match (&args.api_key, &args.email, &args.otp) {
        (Some(key), _, _) => save_key(ctx, io, key),
        (None, Some(email), None) => {
            login::email::send_code(ctx, io, email)?;
            texts::code_sent(io)?;
            Ok(texts::code_next(io, email)?)
        }
        (None, Some(email), Some(code)) => trade_code(ctx, io, email, code),
        (None, None, _) => {
            if migrate(ctx, io)? {
                return Ok(());
            }
            if !io.stdin_is_tty {
                return Err(CliError::Usage(texts::NEEDS_FLAGS.into()));
            }
            if io.prompter.select(texts::CHOOSE_METHOD, &texts::METHODS)? == 0 {
                let key = io.prompter.secret(texts::ENTER_KEY)?;
                return save_key(ctx, io, &ApiKey::new(key.trim()));
            }
            let email = io.prompter.input(texts::ENTER_EMAIL)?;
            let email = email.trim();
            login::email::send_code(ctx, io, email)?;
            texts::code_sent(io)?;
            let code = io.prompter.input(texts::ENTER_CODE)?;
            trade_code(ctx, io, email, code.trim())
        }
    }
}

/// Moves the key versions before 3.9.0 kept in the OS keychain (through
/// keytar) into the credentials file, when the file has none; returns whether
/// it did. The library's keychain reads keytar's entry, within its deadline:
/// a keychain that cannot be read (no desktop session on a headless box,
/// locked, not answering) is said, and `configure` goes on.
fn migrate(ctx: &Ctx, io: &mut Io) -> Result<bool, CliError> {
    let file = ctx.store.read_credentials()?.file;
    if file
        .profiles
        .get(PROFILE)
        .is_some_and(|c| c.api_key.is_some() || c.in_keychain())
    {
        return Ok(false);
    }
    let (service, account) = texts::KEYTAR;
    let keychain = ctx.store.keychain();
    let key = match keychain.get_foreign(service, account) {
        Ok(Some(key)) if !key.trim().is_empty() => ApiKey::new(key.trim()),
        Ok(_) => return Ok(false),
        Err(problem) => {
            texts::keychain_skipped(io, &problem)?;
            return Ok(false);
        }
    };
    save(ctx, Saved::ApiKey(key))?;
    texts::migrated(ctx, io)?;
    if let Err(problem) = keychain.delete_foreign(service, account) {
        texts::keychain_kept(io, &problem)?;
    }
    Ok(true)
}

/// Checks the key with `GET /v1/me`, then stores it.
fn save_key(ctx: &Ctx, io: &mut Io, key: &ApiKey) -> Result<(), CliError> {
    let outcome = login::api_key(ctx, io, key, true).map_err(|e| match e.client() {
        Some(ClientError::Unauthorized { message } | ClientError::Forbidden { message, .. }) => {
            texts::authentication_failed(message)
        }
        _ => e,
    })?;
    let email = outcome.me.map(|me| me.email).unwrap_or_default();
    Ok(texts::authenticated(ctx, io, &email)?)
}

fn trade_code(ctx: &Ctx, io: &mut Io, email: &str, code: &str) -> Result<(), CliError> {
    // A code that cannot be right is not sent: each try counts at the server.
    if code.len() != 6 || !code.bytes().all(|b| b.is_ascii_digit()) {
        return Err(texts::invalid_otp(email));
    }
    login::email::trade_code(ctx, io, email, code).map_err(|e| match e.oauth() {
        Some(OAuthError::ApiRejected {
            status: 400 | 401 | 403 | 404,
            ..
        }) => texts::invalid_otp(email),
        _ => e,
    })?;
    Ok(texts::generated(ctx, io)?)
}
