//! `lua auth configure [--api-key KEY | --email EMAIL [--otp CODE]]`.
//!
//! With a flag it never prompts (CI, scripts, AI IDEs). Without one it first
//! migrates a key left in the OS keychain by versions before 3.9.0, and
//! otherwise asks on a terminal which method to use; without a terminal it
//! names the flags instead.

use crate::keychain::{Keychain, migrate};
use tessera_cli::{CliError, Ctx, Io};
use tessera_client::oauth::{self, OAuthError, UreqClient};
use tessera_client::{ApiClient, Error as ClientError};
use tessera_proto::ApiKey;

#[derive(clap::Args)]
pub struct ConfigureArgs {
    #[arg(
        long,
        value_name = "key",
        value_parser = tessera_cli::args::api_key_arg,
        conflicts_with_all = ["email", "otp"],
        help = "Set API key directly. Best for CI/CD where you already have a key from the dashboard."
    )]
    pub api_key: Option<ApiKey>,
    #[arg(
        long,
        value_name = "email",
        help = "Request an OTP to be sent to this email. Step 1 of the OTP flow."
    )]
    pub email: Option<String>,
    #[arg(
        long,
        value_name = "code",
        requires = "email",
        help = "Verify the 6-digit code from email and generate an API key. Step 2 of the OTP flow (combine with --email)."
    )]
    pub otp: Option<String>,
}

const METHODS: [&str; 2] = ["API Key", "Email (one-time code)"];

pub fn run(
    args: &ConfigureArgs,
    ctx: &Ctx,
    io: &mut Io,
    keychain: &dyn Keychain,
) -> Result<(), CliError> {
    match (&args.api_key, &args.email, &args.otp) {
        (Some(key), _, _) => save_api_key(ctx, io, key),
        (None, Some(email), None) => {
            request_code(ctx, email)?;
            writeln!(io.stderr, "Check your email for a 6-digit code.")?;
            writeln!(
                io.stderr,
                "Then run: lua auth configure --email {email} --otp <code>"
            )?;
            Ok(())
        }
        (None, Some(email), Some(code)) => verify_code(ctx, io, email, code),
        (None, None, _) => {
            if migrate(ctx, io, keychain)? {
                return Ok(());
            }
            if !io.stdin_is_tty {
                return Err(CliError::Usage(
                    "lua auth configure asks how to authenticate, but stdin is not a terminal; \
                     pass --api-key <key>, or --email <email> to get a code and then \
                     --email <email> --otp <code>"
                        .into(),
                ));
            }
            interactive(ctx, io)
        }
    }
}

fn interactive(ctx: &Ctx, io: &mut Io) -> Result<(), CliError> {
    match io
        .prompter
        .select("Choose an authentication method:", &METHODS)?
    {
        0 => {
            let key = io.prompter.secret("Enter your API key:")?;
            save_api_key(ctx, io, &ApiKey::new(key.trim()))
        }
        _ => {
            let email = io.prompter.input("Enter your email:")?;
            let email = email.trim();
            request_code(ctx, email)?;
            writeln!(io.stderr, "Check your email for a 6-digit code.")?;
            let code = io.prompter.input("Enter the 6-digit code:")?;
            verify_code(ctx, io, email, code.trim())
        }
    }
}

fn server(ctx: &Ctx) -> Result<String, CliError> {
    let config = ctx.store.read_config()?;
    let selection = ctx.resolver(None).select(&config);
    Ok(selection
        .server
        .ok_or(ClientError::UnknownEnvironment(selection.environment))?)
}

/// Checks the key with `GET /v1/me`, then stores it.
fn save_api_key(ctx: &Ctx, io: &mut Io, key: &ApiKey) -> Result<(), CliError> {
    if key.expose_secret().is_empty() {
        return Err(CliError::Usage("the API key is empty".into()));
    }
    let me = ApiClient::new(&server(ctx)?)
        .me_with_api_key(key)
        .map_err(|e| match e {
            ClientError::Unauthorized { message } | ClientError::Forbidden { message, .. } => {
                authentication_failed(&message)
            }
            other => other.into(),
        })?;
    store(ctx, key)?;
    writeln!(
        io.stderr,
        "✅ Authenticated as {}. API key saved to {}",
        me.email,
        crate::credentials_path(ctx)
    )?;
    env_override_note(ctx, io)
}

fn authentication_failed(reason: &str) -> CliError {
    CliError::Expired {
        message: "Authentication failed".into(),
        hint: format!(
            "The server did not accept this API key ({reason}).\n\
             - Verify you copied the complete key\n\
             - Check the key hasn't been revoked\n\
             - Ensure no extra spaces\n\
             - Generate a new key with: lua auth configure --email <email>"
        ),
    }
}

fn request_code(ctx: &Ctx, email: &str) -> Result<(), CliError> {
    oauth::request_otp(&UreqClient::new(), &server(ctx)?, email).map_err(ClientError::from)?;
    Ok(())
}

fn verify_code(ctx: &Ctx, io: &mut Io, email: &str, code: &str) -> Result<(), CliError> {
    // A code that cannot be right is not sent: each try counts at the server.
    if code.len() != 6 || !code.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid_otp(email));
    }
    let created =
        oauth::verify_otp(&UreqClient::new(), &server(ctx)?, email, code).map_err(|e| match e {
            OAuthError::ApiRejected {
                status: 400 | 401 | 403 | 404,
                ..
            } => invalid_otp(email),
            other => ClientError::from(other).into(),
        })?;
    store(ctx, &created.key)?;
    writeln!(
        io.stderr,
        "✅ API key generated and saved to {}",
        crate::credentials_path(ctx)
    )?;
    env_override_note(ctx, io)
}

fn invalid_otp(email: &str) -> CliError {
    CliError::Expired {
        message: "Invalid OTP code".into(),
        hint: format!(
            "- Double-check the code from email\n\
             - OTP expires after 10 minutes\n\
             - Request a new OTP with: lua auth configure --email {email}"
        ),
    }
}

/// Writes the key into `~/.lua-cli/credentials` (0600, directory 0700).
pub fn store(ctx: &Ctx, key: &ApiKey) -> Result<(), CliError> {
    ctx.store.update(|_, creds| {
        creds
            .profiles
            .entry(crate::PROFILE.to_owned())
            .or_default()
            .api_key = Some(key.clone());
        Ok(())
    })?;
    Ok(())
}

fn env_override_note(ctx: &Ctx, io: &mut Io) -> Result<(), CliError> {
    if ctx.env.var(ctx.spec.api_key_env).is_some() {
        writeln!(
            io.stderr,
            "Note: {} is set in this shell and takes priority over the saved key.",
            ctx.spec.api_key_env
        )?;
    }
    Ok(())
}
