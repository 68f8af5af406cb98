//! `auth login --session`: POST a session id to a token URL (Lofty's
//! `login-session`). The login is Level 0, the lowest assurance, whatever the
//! server says, and `status` shows it as such.

use super::LoginArgs;
use super::oauth::{self as common, LoginError};
use crate::auth::{OAUTH_TIMEOUT, Target};
use crate::context::Ctx;
use crate::error::CliError;
use crate::io::Io;
use tessera_client::Transport;
use tessera_client::oauth::{self, UreqClient};
use tessera_client::{LoginMethod, OAuthSession};

pub fn run(args: &LoginArgs, ctx: &Ctx, io: &mut Io) -> Result<(), CliError> {
    let needs = "a token URL login needs";
    let token_url = args.token_url.as_deref();
    let token_url = common::required(
        ctx,
        token_url,
        ctx.oauth.token_url_env,
        "--token-url URL",
        needs,
    )?;
    let session_id = args.session_id.as_ref().map(|s| s.expose_secret());
    let session_id = common::required(
        ctx,
        session_id,
        ctx.oauth.session_id_env,
        "--session-id ID",
        needs,
    )?;

    let target = crate::auth::target(ctx)?;
    let obtained = obtain(ctx, io, &token_url, &session_id, Some(&target));
    common::finish(ctx, io, &target, obtained, None, |e| {
        // Only a refused grant means the session id was used up.
        e.is_invalid_grant().then(|| {
            "session ids are single use; create a new session and log in with it".to_owned()
        })
    })
}

/// Trades `session_id` at `token_url` for a token; the session to store.
/// With `server`, its metadata (when it has any) lets the session be renewed
/// and revoked later; a bare token URL works without (the token then simply
/// expires). The environment's insecure-http opt-in covers the token URL
/// only when it is on the environment's server.
pub fn obtain(
    ctx: &Ctx,
    io: &mut Io,
    token_url: &str,
    session_id: &str,
    server: Option<&Target>,
) -> Result<OAuthSession, LoginError> {
    // Said as the usage error it is, before any connection: otherwise a typo
    // reads as an unreachable server.
    if tessera_client::config::http_url(token_url).is_none() {
        return Err(CliError::Usage(format!(
            "the token URL {token_url:?} is not an http:// or https:// URL"
        ))
        .into());
    }
    let transport = match server {
        Some(target) => target.transport(ctx, io)?,
        None => Transport::from_env(ctx.env, ctx.spec.name).map_err(CliError::from)?,
    };
    let http = UreqClient::with_transport(&transport, OAUTH_TIMEOUT);
    let token = oauth::session_token(&http, token_url, session_id).map_err(LoginError::Grant)?;
    let session = OAuthSession::from_token(LoginMethod::Session, token, ctx.now);
    let Some(target) = server else {
        return Ok(session);
    };
    let http = UreqClient::with_transport(&transport, OAUTH_TIMEOUT);
    match oauth::discover(&http, &target.server) {
        Ok(meta) => Ok(common::completed(session, None, &meta)),
        Err(e) => {
            tracing::debug!(error = %e, "no metadata for the session login");
            Ok(session)
        }
    }
}
