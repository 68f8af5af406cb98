//! `auth login --session`: POST a session id to a token URL (Lofty's
//! `login-session`). The login is Level 0, the lowest assurance, whatever the
//! server says, and `status` shows it as such.

use super::LoginArgs;
use super::oauth as common;
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
    let http = UreqClient::new();
    let token = oauth::session_token(&http, &token_url, &session_id).map_err(|e| {
        let hint = e.oauth_code().is_some().then(|| {
            "session ids are single use; create a new session and log in with it".to_owned()
        });
        common::oauth_error(e, hint)
    })?;
    let mut session = OAuthSession::from_token(LoginMethod::Session, token, ctx.now);
    // Renewal and revocation use the server's own endpoints, when it has
    // metadata; a bare token URL works without them (the token then simply
    // expires).
    match oauth::discover(&http, &target.server) {
        Ok(meta) => session = common::with_server(session, &meta),
        Err(e) => tracing::debug!(error = %e, "no metadata for the session login"),
    }
    let profile = common::store_session(ctx, &target, session.clone(), None)?;
    common::report(ctx, io, &target, &profile, &session)
}

fn missing(variable: &str, flag: &str) -> CliError {
    CliError::Usage(format!(
        "a token URL login needs {variable}: set it, or pass {flag}"
    ))
}
