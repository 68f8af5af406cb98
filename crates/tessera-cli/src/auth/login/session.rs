//! `auth login --session`: POST a session id to a token URL (Lofty's
//! `login-session`). The login is Level 0, the lowest assurance, whatever the
//! server says, and `status` shows it as such.

use super::LoginArgs;
use super::oauth::{self as common, LoginError};
use crate::auth::save::{Saved, save};
use crate::context::Ctx;
use crate::error::CliError;
use crate::io::Io;
use tessera_client::oauth::{self, UreqClient};
use tessera_client::{LoginMethod, OAuthSession};

pub fn run(args: &LoginArgs, ctx: &Ctx, io: &mut Io) -> Result<(), CliError> {
    let token_url = args
        .token_url
        .clone()
        .or_else(|| ctx.env.var(ctx.oauth.token_url_env))
        .ok_or_else(|| missing(ctx.oauth.token_url_env, "--token-url URL"))?;
    let session_id = args
        .session_id
        .as_ref()
        .map(|s| s.expose_secret().to_owned())
        .or_else(|| ctx.env.var(ctx.oauth.session_id_env))
        .ok_or_else(|| missing(ctx.oauth.session_id_env, "--session-id ID"))?;

    let target = common::target(ctx)?;
    let session = obtain(ctx, &token_url, &session_id, Some(&target.server)).map_err(|e| {
        e.hinted(ctx, None, |e| {
            e.oauth_code().is_some().then(|| {
                "session ids are single use; create a new session and log in with it".to_owned()
            })
        })
    })?;
    let profile = save(
        ctx,
        Saved::OAuth {
            session: Box::new(session.clone()),
            customer_key: None,
        },
    )?;
    common::report(ctx, io, &target, &profile, &session)
}

/// Trades `session_id` at `token_url` for a token; the session to store.
/// With `server`, its metadata (when it has any) lets the session be renewed
/// and revoked later; a bare token URL works without (the token then simply
/// expires).
pub fn obtain(
    ctx: &Ctx,
    token_url: &str,
    session_id: &str,
    server: Option<&str>,
) -> Result<OAuthSession, LoginError> {
    let http = UreqClient::new();
    let token = oauth::session_token(&http, token_url, session_id).map_err(LoginError::Grant)?;
    let session = OAuthSession::from_token(LoginMethod::Session, token, ctx.now);
    let Some(server) = server else {
        return Ok(session);
    };
    match oauth::discover(&http, server) {
        Ok(meta) => Ok(common::with_server(session, &meta)),
        Err(e) => {
            tracing::debug!(error = %e, "no metadata for the session login");
            Ok(session)
        }
    }
}

fn missing(variable: &str, flag: &str) -> CliError {
    CliError::Usage(format!(
        "a token URL login needs {variable}: set it, or pass {flag}"
    ))
}
