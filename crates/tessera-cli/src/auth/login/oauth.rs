//! What the OAuth logins share: the server and its metadata (RFC 8414
//! discovery on the environment's URL), storing the session, and reporting it.

use crate::context::Ctx;
use crate::error::CliError;
use crate::io::Io;
use tessera_client::oauth::{self, OAuthError, ServerMetadata, UreqClient};
use tessera_client::{ApiKey, Error as ClientError, OAuthSession, Selection};

/// The selected environment, profile and server of a login.
pub struct Target {
    pub selection: Selection,
    pub server: String,
}

pub fn target(ctx: &Ctx) -> Result<Target, CliError> {
    let selection = ctx.resolver(None).select(&ctx.store.read_config()?);
    let server = selection
        .server
        .clone()
        .ok_or_else(|| ClientError::UnknownEnvironment(selection.environment.clone()))?;
    Ok(Target { selection, server })
}

/// The server's authorization server metadata.
pub fn discover(ctx: &Ctx, http: &UreqClient, server: &str) -> Result<ServerMetadata, CliError> {
    oauth::discover(http, server).map_err(|e| {
        let hint = if e.is_unreachable() {
            format!(
                "is the server running? `{} auth env list` shows the configured servers",
                ctx.spec.name
            )
        } else {
            format!(
                "{server} does not look like an OAuth authorization server (RFC 8414 discovery)"
            )
        };
        CliError::from(ClientError::OAuth(e)).with_hint(hint)
    })
}

/// An OAuth failure, with what to do about it when there is something to say.
pub fn oauth_error(error: OAuthError, hint: Option<String>) -> CliError {
    let error = CliError::from(ClientError::OAuth(error));
    match hint {
        Some(hint) => error.with_hint(hint),
        None => error,
    }
}

/// Fills in what renewing and revoking need later without discovery.
pub fn with_server(mut session: OAuthSession, meta: &ServerMetadata) -> OAuthSession {
    session.issuer = Some(meta.issuer.clone());
    session.token_endpoint = Some(meta.token_endpoint.clone());
    session.revocation_endpoint = meta.revocation_endpoint.clone();
    session
}

/// Stores `session` (and `api_key`, the customer key of a client-credentials
/// login) in the target profile and makes it current. A login replaces the
/// profile's credentials: an API key from an earlier login is dropped unless
/// it is this login's customer key. Returns the profile.
pub fn store_session(
    ctx: &Ctx,
    target: &Target,
    session: OAuthSession,
    api_key: Option<ApiKey>,
) -> Result<String, CliError> {
    let environment = target.selection.environment.clone();
    Ok(ctx.store.update(|config, creds| {
        let name = super::login_profile(config, &target.selection);
        config.set_current_profile(&environment, &name);
        let entry = creds.profiles.entry(name.clone()).or_default();
        entry.oauth = Some(session);
        entry.api_key = api_key;
        Ok(name)
    })?)
}

/// "Logged in to … with … (profile …)." and what the token allows, on stderr.
pub fn report(
    ctx: &Ctx,
    io: &mut Io,
    target: &Target,
    profile: &str,
    session: &OAuthSession,
) -> Result<(), CliError> {
    let level = if session.is_level_0() {
        ", Level 0"
    } else {
        ""
    };
    writeln!(
        io.stderr,
        "Logged in to {} with {}{level} (profile {profile:?}, environment {:?}).",
        target.server, session.method, target.selection.environment
    )?;
    if let Some(exp) = session.expires_at {
        let renew = if session.renewable() {
            "; renewed automatically"
        } else {
            ""
        };
        writeln!(
            io.stderr,
            "The access token expires at {}{renew}.",
            crate::auth::format_time(exp)
        )?;
    }
    if let Some(scope) = &session.scope {
        writeln!(io.stderr, "Scopes: {scope}")?;
    }
    if ctx.env.var(ctx.spec.api_key_env).is_some() {
        io.warn(format!(
            "{} is set in this environment and takes priority over this login",
            ctx.spec.api_key_env
        ))?;
    }
    Ok(())
}

/// The public client id of web and device logins.
pub fn public_client_id(ctx: &Ctx, flag: Option<&str>) -> String {
    flag.map(str::to_owned)
        .or_else(|| ctx.env.var(ctx.oauth.client_id_env))
        .unwrap_or_else(|| ctx.oauth.default_client_id.to_owned())
}
