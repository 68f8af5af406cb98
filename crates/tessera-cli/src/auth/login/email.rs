//! `auth login --email ADDR` then `auth login --email ADDR --otp CODE`: an
//! emailed one-time code traded for a new API key, in two non-interactive
//! steps (lua's `auth configure --email`).

use super::LoginArgs;
use crate::context::Ctx;
use crate::error::CliError;
use crate::io::Io;
use tessera_client::Error as ClientError;
use tessera_client::oauth::{self, OAuthError, UreqClient};

/// Step 1: ask the server to email a code, and say so.
pub fn request(args: &LoginArgs, ctx: &Ctx, io: &mut Io) -> Result<(), CliError> {
    let email = args.email.as_deref().unwrap_or_default();
    let server = super::oauth::target(ctx)?.server;
    oauth::request_otp(&UreqClient::new(), &server, email).map_err(|e| error(ctx, e, email))?;
    writeln!(io.stdout, "Check your email for a 6-digit code.")?;
    writeln!(
        io.stderr,
        "Then run: {} auth login --email {email} --otp CODE",
        ctx.spec.name
    )?;
    Ok(())
}

/// Step 2: verify the code; the server answers with a new API key, stored
/// like `--api-key` would.
pub fn verify(args: &LoginArgs, ctx: &Ctx, io: &mut Io) -> Result<(), CliError> {
    let email = args.email.as_deref().unwrap_or_default();
    let code = args
        .otp
        .as_ref()
        .map(|c| c.expose_secret().trim().to_owned())
        .unwrap_or_default();
    let server = super::oauth::target(ctx)?.server;
    let created = oauth::verify_otp(&UreqClient::new(), &server, email, &code)
        .map_err(|e| error(ctx, e, email))?;
    let outcome = super::store_api_key(ctx, &created.key, false)?;
    writeln!(
        io.stderr,
        "Logged in to {} as {email}: a new API key ({}) is stored in profile {:?} (environment {:?}).",
        outcome.server, created.id, outcome.profile, outcome.environment
    )?;
    Ok(())
}

fn error(ctx: &Ctx, error: OAuthError, email: &str) -> CliError {
    let hint = match &error {
        OAuthError::ApiRejected {
            status: 400..=403, ..
        } => Some(format!(
            "check the code (it expires after 10 minutes and allows 5 tries); `{} auth login --email {email}` sends a new one",
            ctx.spec.name
        )),
        OAuthError::Unreachable { .. } => Some("is the server running?".to_owned()),
        _ => None,
    };
    let error = CliError::from(ClientError::OAuth(error));
    match hint {
        Some(hint) => error.with_hint(hint),
        None => error,
    }
}
