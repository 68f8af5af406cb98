//! `auth login --email ADDR` then `auth login --email ADDR --otp CODE`: an
//! emailed one-time code traded for a new API key, in two non-interactive
//! steps (lua's `auth configure --email`).

use super::{LoginArgs, LoginOutcome};
use crate::context::Ctx;
use crate::error::CliError;
use crate::io::Io;
use tessera_client::Error as ClientError;
use tessera_client::oauth::{self, OAuthError};

/// Step 1: ask the server to email a code, and say so.
pub fn request(args: &LoginArgs, ctx: &Ctx, io: &mut Io) -> Result<(), CliError> {
    let email = checked_email(args)?;
    send_code(ctx, io, email).map_err(|e| match e.oauth() {
        // The server's finer check of the address: a usage error as ours.
        Some(OAuthError::ApiRejected {
            status: 400, body, ..
        }) => CliError::Usage(format!(
            "--email: {}",
            crate::texts::printable(&body.message)
        )),
        _ => hint(ctx, e, email),
    })?;
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
    let email = checked_email(args)?;
    let code = args
        .otp
        .as_ref()
        .map(|c| c.expose_secret().trim().to_owned())
        .unwrap_or_default();
    // Every code sent costs one of the code's five tries: one that cannot be
    // right is not sent.
    if code.len() != 6 || !code.bytes().all(|b| b.is_ascii_digit()) {
        return Err(CliError::Usage(
            "--otp takes the 6-digit code from the email".into(),
        ));
    }
    let (key_id, outcome) = trade_code(ctx, io, email, &code).map_err(|e| hint(ctx, e, email))?;
    writeln!(
        io.stderr,
        "Logged in to {} as {email}: a new API key ({}) is stored in profile {:?} (environment {:?}).",
        crate::texts::printable(&outcome.server),
        // The server's answer: anyone's text, as far as the terminal goes.
        crate::texts::printable(&key_id),
        outcome.profile,
        outcome.environment
    )?;
    Ok(())
}

/// `--email`, when it can be an address (the server checks it in full): a
/// typo is a usage error here, not a refusal that reads like a wrong code.
fn checked_email(args: &LoginArgs) -> Result<&str, CliError> {
    let email = args.email.as_deref().unwrap_or_default().trim();
    let plausible = email.split_once('@').is_some_and(|(local, domain)| {
        !local.is_empty() && !domain.is_empty() && !domain.contains('@')
    }) && !email.chars().any(char::is_whitespace);
    if plausible {
        Ok(email)
    } else {
        Err(CliError::Usage(format!(
            "--email {} is not an email address",
            crate::texts::printable(&format!("{email:?}"))
        )))
    }
}

/// Asks the selected server to email a one-time code to `email`.
pub fn send_code(ctx: &Ctx, io: &mut Io, email: &str) -> Result<(), CliError> {
    let target = crate::auth::target(ctx)?;
    let http = target.oauth_http(ctx, io)?;
    oauth::request_otp(&http, &target.server, email).map_err(ClientError::from)?;
    Ok(())
}

/// Trades the code for a new API key and stores it; the new key's id and
/// where it went.
pub fn trade_code(
    ctx: &Ctx,
    io: &mut Io,
    email: &str,
    code: &str,
) -> Result<(String, LoginOutcome), CliError> {
    let target = crate::auth::target(ctx)?;
    let http = target.oauth_http(ctx, io)?;
    let created =
        oauth::verify_otp(&http, &target.server, email, code).map_err(ClientError::from)?;
    let outcome = super::api_key(ctx, io, &created.key, false)?;
    Ok((created.id, outcome))
}

fn hint(ctx: &Ctx, error: CliError, email: &str) -> CliError {
    let hint = match error.oauth() {
        Some(OAuthError::ApiRejected {
            status: 400..=403, ..
        }) => format!(
            "check the code (it expires after 10 minutes and allows 5 tries); `{} auth login --email {email}` sends a new one",
            ctx.spec.name
        ),
        Some(OAuthError::Unreachable { .. }) => "is the server running?".to_owned(),
        _ => return error,
    };
    error.with_hint(hint)
}
